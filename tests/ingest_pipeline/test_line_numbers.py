"""One line number everywhere: a result's line_no is the physical line its message names.

`line_no` used to count data records (14) while the message named the physical line ("line 16:
term is empty"), and blank lines got no result. Now line_no is the line a person opens the file
at, blank lines between entries are lines with a result, and chunks cut the numbering's gaps.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from tests.clitools import cli, run_dxcoder
from tests.conftest import PipelineEnv

_CSV = ("id,term,note\n"                 # 1
        "A1,E11.9,x\n"                   # 2
        "\n"                             # 3: blank
        'A2,I10,"two\nlines"\n'          # 4-5
        "A3,,x\n"                        # 6: empty term
        "A4,J45.909,x\n"                 # 7
        "\n"                             # 8: blank
        "\n"                             # 9: blank
        "A5,I10\n"                       # 10: too few fields
        "A6,E11.9,x\n"                   # 11
        "\n\n")                          # after the last entry: no lines of their own


def _check(rows: list[dict[str, str]]) -> None:
    assert [int(r["line_no"]) for r in rows] == [2, 3, 4, 6, 7, 8, 9, 10, 11]
    physical = _CSV.split("\n")
    for row in rows:
        n = int(row["line_no"])
        if row["id"]:  # the entry's id is on the line its number names
            assert physical[n - 1].startswith(row["id"] + ",")
        if row["message"]:  # and its message names that same line
            assert row["message"].startswith(f"line {n}: ")
    blank = {int(r["line_no"]): r for r in rows if r["message"].endswith("the line is blank")}
    assert sorted(blank) == [3, 8, 9]
    assert {r["status"] for r in blank.values()} == {"invalid_input"}


def test_run_and_submit_number_lines_as_the_file_does(
        pipeline: PipelineEnv, sqlite_url: str, tmp_path: Path) -> None:
    source = tmp_path / "claims.csv"
    source.write_text(_CSV)
    embedded = tmp_path / "embedded.csv"
    done = run_dxcoder("run", str(source), "-o", str(embedded), "--quiet", "--processes", "2",
                       database_url=sqlite_url, data_dir=tmp_path,
                       env={"DXCODER_RUN_CHUNK_SIZE": "2"})  # chunks across the gaps
    assert done.returncode == 0, done.stderr
    assert "9/9 lines" in done.stdout
    _check(list(csv.DictReader(io.StringIO(embedded.read_text()))))

    pipeline.start_worker()
    submitted = cli(pipeline, "submit", str(source), "--wait", chunk_size=3)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[-1]
    distributed = tmp_path / "distributed.csv"
    assert cli(pipeline, "results", job_id, "-o", str(distributed)).returncode == 0
    assert distributed.read_bytes() == embedded.read_bytes()
    metrics = cli(pipeline, "metrics", job_id, "--json")
    assert json.loads(metrics.stdout)["lines"] == 9  # lines counted, not the last line number


def test_jsonl_lines_are_numbered_as_in_the_file(sqlite_url: str, tmp_path: Path) -> None:
    source = tmp_path / "claims.jsonl"
    source.write_text('{"id": "J1", "term": "E11.9"}\n\n{"id": "J2", "term": ""}\n'
                      '{"id": "J3", "term": "I10"}\n\n')
    out = tmp_path / "out.jsonl"
    done = run_dxcoder("run", str(source), "-o", str(out), "--output-format", "jsonl",
                       "--quiet", "--processes", "1", database_url=sqlite_url,
                       data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["line_no"], r["id"], r["message"]) for r in records] == [
        (1, "J1", ""), (2, "", "line 2: the line is blank"), (3, "J2", "line 3: term is empty"),
        (4, "J3", "")]
    assert re.search(r"4/4 lines", done.stdout)
