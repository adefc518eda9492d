"""What a new user types: fiscal years for releases, the date forms files use, a diff that
keeps accent-only retitles apart, and a no-release message that names the database."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.clitools import DXCODER, run_dxcoder


def test_codeset_diff_takes_fiscal_years(sqlite_url: str, tmp_path: Path) -> None:
    by_year = run_dxcoder("codeset", "diff", "2025", "2026", database_url=sqlite_url,
                          data_dir=tmp_path)
    by_label = run_dxcoder("codeset", "diff", "FY2025", "FY2026", database_url=sqlite_url,
                           data_dir=tmp_path)
    assert by_year.returncode == 0, by_year.stderr
    assert by_year.stdout == by_label.stdout and by_year.stdout
    assert by_year.stderr.startswith("FY2025 -> FY2026: ")
    unknown = run_dxcoder("codeset", "diff", "2025", "2031", database_url=sqlite_url,
                          data_dir=tmp_path)
    assert unknown.returncode == 1 and "no code-set release '2031'" in unknown.stderr
    pinned = run_dxcoder("resolve", "E119", "--release", "2025", database_url=sqlite_url,
                         data_dir=tmp_path)
    assert pinned.returncode == 0, pinned.stderr
    assert json.loads(pinned.stdout)["code_set"] == "FY2025"


def test_codeset_diff_keeps_accent_and_punctuation_retitles_apart(sqlite_url: str,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "diff.csv"
    result = run_dxcoder("codeset", "diff", "FY2025", "FY2026", "-o", str(out),
                         database_url=sqlite_url, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "retitled 39, respelled 157," in result.stdout
    rows = {line.split(",")[1]: line.split(",")[0] for line in out.read_text().splitlines()[1:]}
    assert rows["C84.10"] == "respelled"  # Sezary -> Sézary
    assert rows["H81.01"] == "respelled"  # Meniere's -> Ménière's
    assert rows["S62.90"] == "retitled"  # wrist and hand -> hand
    only = run_dxcoder("codeset", "diff", "FY2025", "FY2026", "--kind", "retitled",
                       database_url=sqlite_url, data_dir=tmp_path)
    assert len(only.stdout.splitlines()) == 39 and "Sézary" not in only.stdout


def test_dos_takes_the_date_forms_files_take(sqlite_url: str, tmp_path: Path) -> None:
    codes = set()
    for dos in ("2026-01-15", "20260115", "01/15/2026", "1/15/2026"):
        result = run_dxcoder("resolve", "G35", "--dos", dos, database_url=sqlite_url,
                             data_dir=tmp_path)
        assert result.returncode == 0, (dos, result.stderr)
        codes.add((json.loads(result.stdout)["code_set"], json.loads(result.stdout)["code"]))
    assert codes == {("FY2026", "G35.D")}
    bad = run_dxcoder("resolve", "G35", "--dos", "02/30/2026", database_url=sqlite_url,
                      data_dir=tmp_path)
    assert bad.returncode == 2
    assert "'02/30/2026' is not a real date; use YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY" in bad.stderr


def test_no_release_message_names_the_database_in_use(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DXCODER_")}
    result = subprocess.run([DXCODER, "resolve", "E11.9"], cwd=tmp_path, env=environ,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    database = tmp_path.resolve() / ".dxcoder" / "dxcoder.sqlite3"
    assert f"no ICD-10-CM release is loaded in {database}" in result.stderr
    assert "DXCODER_DATA_DIR=.dxcoder, relative to the current directory" in result.stderr
    listed = subprocess.run([DXCODER, "codeset", "list"], cwd=tmp_path, env=environ,
                            capture_output=True, text=True, timeout=120, check=False)
    assert str(database) in listed.stdout


def test_no_release_message_masks_a_server_password(empty_pg_url: str, tmp_path: Path) -> None:
    assert run_dxcoder("db", "upgrade", database_url=empty_pg_url, data_dir=tmp_path
                       ).returncode == 0
    url = empty_pg_url.replace("postgres@", "postgres:s3cret@")
    result = run_dxcoder("resolve", "E11.9", database_url=url, data_dir=tmp_path)
    assert result.returncode == 1
    assert "no ICD-10-CM release is loaded in postgresql+psycopg2://postgres:***@" in result.stderr
    assert "s3cret" not in result.stderr


def test_the_progress_rate_counts_only_lines_finished_while_it_watched() -> None:
    from worker.cli.jobs import LineRate

    # `submit --wait` on a job that already has 3,000 lines done: the first reading comes
    # microseconds after the bar starts.
    rate = LineRate(3000, now=100.0)
    assert rate.text(3005, now=100.00001) == "measuring"
    assert rate.text(13_000, now=102.0) == "5,000 lines/s"


def test_the_readme_lists_every_method_the_results_carry() -> None:
    from worker.resolver import outcome

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `method` |"))
    from worker.contract import STATUSES

    methods = {value for name, value in vars(outcome).items()
               if name.isupper() and isinstance(value, str)} - set(STATUSES)
    assert {"code_other_release", "icd9_gem", "fuzzy"} <= methods  # the scan finds them
    for method in methods | {"none"}:
        assert f"`{method}`" in row, method
