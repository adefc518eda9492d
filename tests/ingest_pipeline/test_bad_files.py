"""A bad file is refused before any job exists: one line naming the file and what to do, exit 1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.clitools import cli
from tests.conftest import PipelineEnv
from tests.ingest_pipeline.helpers import X12_837P, job_count, staged_line_count


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.csv"
    path.write_bytes(b"")
    return path


def _binary(tmp: Path) -> Path:
    path = tmp / "scan.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    return path


def _prose(tmp: Path) -> Path:
    path = tmp / "letter.txt"
    path.write_text("Dear claims team,\nplease find the files attached.\nRegards\n")
    return path


def _no_term_column(tmp: Path) -> Path:
    path = tmp / "no-term.csv"
    path.write_text("id,payer,amount\nC1,AETNA,10\nC2,BCBS,20\n")
    return path


def _truncated_x12(tmp: Path) -> Path:
    path = tmp / "cut.x12"
    text = X12_837P.read_text()
    path.write_text(text[: text.index("CLM*PATIENT3-CLM")])  # cut mid-transaction: no SE/GE/IEA
    return path


def _missing(tmp: Path) -> Path:
    return tmp / "never-written.csv"


def _unreadable(tmp: Path) -> Path:
    path = tmp / "locked.csv"
    path.write_text("id,term\nC1,E11.9\n")
    path.chmod(0)
    return path


BAD_FILES = {
    "empty": (_empty, "empty"),
    "binary": (_binary, "binary"),
    "unknown-format": (_prose, "term"),
    "no-term-column": (_no_term_column, "term"),
    "truncated-x12": (_truncated_x12, ""),
    "missing": (_missing, "cannot be opened"),
}
if os.geteuid() != 0:  # root reads a mode-000 file anyway
    BAD_FILES["unreadable"] = (_unreadable, "cannot be opened")
else:
    # A file that opens but cannot be read, even by root: reading it fails with EIO.
    BAD_FILES["unreadable"] = (lambda _tmp: Path("/proc/self/mem"), "cannot be read")


@pytest.mark.parametrize("command", ["submit", "run"])
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_refused_before_any_job(pipeline: PipelineEnv, tmp_path: Path, case: str,
                                            command: str) -> None:
    make, words = BAD_FILES[case]
    path = make(tmp_path)
    args = [command, str(path)]
    if command == "run":
        args += ["-o", str(tmp_path / "out.csv"), "--quiet"]
    done = cli(pipeline, *args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"dxcoder: error: {path}: "), lines[0]
    assert words in lines[0]
    assert "Traceback" not in done.stderr
    assert job_count() == 0 and staged_line_count() == 0
    assert not (tmp_path / "out.csv").exists()
