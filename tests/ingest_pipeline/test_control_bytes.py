"""A NUL or other control byte in a few lines of a text file makes those lines bad, not the file.

One NUL in the first 256 KB used to refuse the whole file as binary ("looks binary (control
bytes)"), even with --format csv, and the inbox rejected it; past 256 KB the same byte only made
its line an error. Now both are line errors, and no raw NUL reaches a results file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.clitools import run_dxcoder
from tests.conftest import PipelineEnv
from tests.ingest_pipeline.helpers import submitted_export
from worker.errors import FileRejected
from worker.ingest import open_source

_CSV = (b"id,term,payer\n"
        b"A1,E11.9,AETNA\n"
        b"A2,I1\x000,AETNA\n"          # a NUL in the term
        b"A\x003,I10,BCBS\n"           # in the id
        b"A4,J45.909,BC\x00BS\n"       # in a pass-through cell
        b"A5,I10,\x01CIGNA\n"          # another control byte, outside the term: kept as it is
        b"A6,I10,AETNA\n")


@pytest.mark.parametrize("fmt", [None, "csv"])
def test_a_csv_with_a_nul_in_its_first_lines_is_read_with_those_lines_as_errors(
        tmp_path: Path, fmt: str | None) -> None:
    path = tmp_path / "claims.csv"
    path.write_bytes(_CSV)
    lines = list(open_source(path, format=fmt))
    assert len(lines) == 6
    assert [line.error for line in lines] == [
        "", "line 3: has a NUL byte (shown as U+FFFD)", "line 4: has a NUL byte (shown as U+FFFD)",
        "line 5: has a NUL byte (shown as U+FFFD)", "", ""]
    assert lines[1].term == "I1\ufffd0" and lines[2].id == "A\ufffd3"
    assert not any("\x00" in repr(line) for line in lines)


def test_a_jsonl_line_with_a_nul_is_an_error_line(tmp_path: Path) -> None:
    path = tmp_path / "claims.jsonl"
    path.write_bytes(b'{"id": "J1", "term": "E11.9"}\n{"id": "J2", "term": "I1\x000"}\n'
                     b'{"id": "J3", "term": "I10"}\n')
    lines = list(open_source(path))
    assert [line.error for line in lines] == ["", "line 2: has a NUL byte (shown as U+FFFD)", ""]
    assert lines[1].term == "I1\ufffd0"


@pytest.mark.parametrize("data", [
    b"\x00" * 4000 + b"term\nE11.9\n",                    # NUL padding: binary
    b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 40,      # an executable, random-like bytes
])
def test_files_that_are_mostly_binary_are_still_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "upload.csv"
    path.write_bytes(data)
    for fmt in (None, "csv"):
        with pytest.raises(FileRejected, match="looks binary"):
            open_source(path, format=fmt)


def test_run_and_submit_resolve_the_rest_and_write_no_nul(
        pipeline: PipelineEnv, sqlite_url: str, tmp_path: Path) -> None:
    source = tmp_path / "claims.csv"
    source.write_bytes(_CSV)
    embedded = tmp_path / "embedded.csv"
    done = run_dxcoder("run", str(source), "-o", str(embedded), "--quiet", "--processes", "1",
                       "--format", "csv", database_url=sqlite_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    job_id = re.search(r"job (\w+) done", done.stdout).group(1)  # type: ignore[union-attr]
    jsonl = run_dxcoder("results", job_id, "--output-format", "jsonl",
                        database_url=sqlite_url, data_dir=tmp_path)
    assert jsonl.returncode == 0, jsonl.stderr

    pipeline.start_worker()
    assert submitted_export(pipeline, source, tmp_path / "distributed.csv") == \
        embedded.read_bytes()

    assert b"\x00" not in embedded.read_bytes() and "\x00" not in jsonl.stdout
    rows = list(csv.DictReader(io.StringIO(embedded.read_text(encoding="utf-8"))))
    assert [r["status"] for r in rows] == [
        "resolved", "invalid_input", "invalid_input", "invalid_input", "resolved", "resolved"]
    assert [r["input"] for r in rows][:3] == ["E11.9", "I1\ufffd0", "I10"]
    assert "NUL byte" in rows[1]["message"] and rows[2]["id"] == "A\ufffd3"
    assert [json.loads(line)["status"] for line in jsonl.stdout.splitlines()] == [
        r["status"] for r in rows]
