"""`--format` meant the input format on `run` and the output format on `results`: each now has
its own name, and the old one still works where it did."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.clitools import run_dxcoder


def test_input_and_output_formats_have_their_own_names(sqlite_url: str, tmp_path: Path) -> None:
    source = tmp_path / "claims.txt"  # a name that says nothing of its format
    source.write_text('{"id": "J1", "term": "E11.9"}\n{"id": "J2", "term": "I10"}\n')
    out = tmp_path / "out.jsonl"
    done = run_dxcoder("run", str(source), "-o", str(out), "--input-format", "jsonl",
                       "--output-format", "jsonl", "--quiet", "--processes", "1",
                       database_url=sqlite_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["code"] for line in out.read_text().splitlines()] == ["E11.9", "I10"]
    job_id = re.search(r"job (\w+) done", done.stdout).group(1)  # type: ignore[union-attr]

    for option in ("--output-format", "--format"):  # the old name stays an alias
        done = run_dxcoder("results", job_id, option, "jsonl", database_url=sqlite_url,
                           data_dir=tmp_path)
        assert done.returncode == 0, done.stderr
        assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["J1", "J2"]

    done = run_dxcoder("run", str(source), "-o", str(tmp_path / "old.csv"), "--format", "jsonl",
                       "--quiet", "--processes", "1", database_url=sqlite_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    help_text = run_dxcoder("run", "--help", database_url=sqlite_url, data_dir=tmp_path).stdout
    assert "--input-format" in help_text and "--output-format" in help_text
