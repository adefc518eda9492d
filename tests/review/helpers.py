"""A small claims file whose entries need review, run as a user runs it, and CLI shortcuts."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

from tests.clitools import run_dxcoder
from worker import settings as settings_module

# Entries that come out needs_review (uncertain diagnoses, an ICD-9-CM category, a code with
# two readings), repeated so that one decision covers several lines, plus lines that resolve.
CLAIMS = [
    ("C1", "possible pneumonia", "2026-01-10"),
    ("C2", "lt knee pain", "2026-01-10"),
    ("C3", "Possible  Pneumonia", "2026-02-11"),
    ("C4", "250", "2026-03-01"),
    ("C5", "possible pneumonia", "2025-01-15"),
    ("C6", "E11.9", "2026-01-10"),
    ("C7", "250", "2026-03-02"),
    ("C8", "possible pneumonia", "2026-04-01"),
    ("C9", "r/o fracture of left femur, initial", "2026-04-01"),
    ("C10", "xqzzy", "2026-04-01"),
]


def claims_file(path: Path, claims: list[tuple[str, str, str]] = CLAIMS) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "term", "date_of_service"])
        writer.writerows(claims)
    return path


def dx(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    url = settings_module.get_settings().database_url
    return run_dxcoder(*args, database_url=url, data_dir=tmp_path,
                       env={f"DXCODER_{k.upper()}": v for k, v in env.items()})


def run_job(tmp_path: Path, claims: list[tuple[str, str, str]] = CLAIMS, name: str = "claims"
            ) -> str:
    """Run a claims file in-process (`dxcoder run`) and return its job id."""
    source = claims_file(tmp_path / f"{name}.csv", claims)
    done = dx("run", str(source), "-o", str(tmp_path / f"{name}.results.csv"), "--quiet",
              tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = dx("jobs", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    return next(line.split()[0] for line in listed.stdout.splitlines() if line.endswith(f"{name}.csv"))


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))
