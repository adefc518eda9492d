"""Format detection from content, the format override, and files no reader can use."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pytest

from tests.ingest import x12build
from worker.errors import FileRejected
from worker.ingest import open_source
from worker.ingest.common import EXPECTED

X12 = x12build.claims_file(["CLM*C1*10", "HI*ABK:E119"])


@pytest.mark.parametrize(
    ("name", "data", "format"),
    [
        # The name says nothing: content decides.
        ("claims.txt", X12, "x12"),
        ("claims.csv", "\ufeff\r\n  " + X12, "x12"),
        ("claims.csv", '\n\n{"term": "E11.9"}\n', "jsonl"),
        ("claims.json", '{"term": "E11.9"\n{"term": "I10"}\n', "jsonl"),  # broken first line, still JSONL
        ("claims.x12", "term,id\nE11.9,1\n", "csv"),
        ("claims", "dx\tid\nE11.9\t1\n", "csv"),
    ],
)
def test_detected_from_content(tmp_path: Path, name: str, data: str, format: str) -> None:
    path = tmp_path / name
    path.write_text(data, encoding="utf-8", newline="")
    source = open_source(path)
    assert source.format == format
    assert len(list(source)) >= 1


def test_format_override(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("term\nE11.9\n", encoding="utf-8")
    lines = list(open_source(path, format="jsonl"))
    # Forced to JSONL, each physical line is a (bad) data line: nothing dropped, nothing raised.
    assert [line.error for line in lines] == [
        "line 1: not valid JSON (Expecting value at column 1)",
        "line 2: not valid JSON (Expecting value at column 1)",
    ]
    with pytest.raises(FileRejected, match="does not start with an ISA segment"):
        open_source(path, format="837")
    assert open_source(path, format="CSV").format == "csv"
    with pytest.raises(ValueError, match="format must be one of csv, jsonl, x12"):
        open_source(path, format="xlsx")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "the file is empty"),
        (b" \r\n\t\n", "the file is empty"),
        (b"\x00\x01\x02\x03term\n", "looks binary (control bytes), not text"),
        (bytes(range(1, 32)) * 10, "looks binary (control bytes), not text"),
        (gzip.compress(b"term\nE11.9\n"), "is a compressed archive (gzip, zip, bzip2, xz, zstd"),
        (b"PK\x03\x04rest", "is a compressed archive (gzip, zip, bzip2, xz, zstd or 7z); unpack"),
        (bz2.compress(b"term\nE11.9\n"), "is a compressed archive (gzip, zip, bzip2, xz, zstd"),
        ("term\nE11.9\n".encode("utf-16-le"), "is UTF-16 text; save it as UTF-8"),
        ("term\nE11.9\n".encode("utf-16"), "is UTF-16 text; save it as UTF-8 (or Windows-1252)"),
        (b"hello world\nthis is not claims data\n", "not X12 (no ISA segment), not JSONL"),
    ],
)
def test_unusable_files_are_rejected(tmp_path: Path, data: bytes, problem: str) -> None:
    path = tmp_path / "upload.dat"
    path.write_bytes(data)
    with pytest.raises(FileRejected) as raised:
        open_source(path)
    assert str(raised.value).startswith(f"{path}: {problem}")
    assert str(raised.value).endswith(EXPECTED)
    assert raised.value.path == str(path)


def test_missing_file_and_directory_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=r"cannot be opened \(No such file or directory\)"):
        open_source(tmp_path / "nope.csv")
    with pytest.raises(FileRejected, match="cannot be opened"):
        open_source(tmp_path)
