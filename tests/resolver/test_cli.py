"""`dxcoder resolve` and `dxcoder override` as a user runs them: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clitools import run_dxcoder
from worker.contract import RESULT_FIELDS


def test_resolve_prints_one_contract_object_per_term(any_db_url: str, tmp_path: Path) -> None:
    done = run_dxcoder("resolve", "E119", "G35", "401.9", "--dos", "2026-01-15",
                       database_url=any_db_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [tuple(row) for row in rows] == [RESULT_FIELDS] * 3
    assert [(r["line_no"], r["input"], r["status"], r["code"]) for r in rows] == [
        (1, "E119", "resolved", "E11.9"), (2, "G35", "needs_review", "G35.D"),
        (3, "401.9", "resolved", "I10")]
    assert {r["code_set"] for r in rows} == {"FY2026"}


def test_resolve_options(any_db_url: str, tmp_path: Path) -> None:
    done = run_dxcoder("resolve", "250.00", "--system", "icd9cm", "--release", "FY2025",
                       database_url=any_db_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert (row["status"], row["code"], row["method"], row["code_set"]) == (
        "resolved", "E11.9", "icd9_gem", "FY2025")


def test_resolve_exit_codes(any_db_url: str, tmp_path: Path) -> None:
    usage = run_dxcoder("resolve", "x", "--dos", "2026-13-01", database_url=any_db_url,
                        data_dir=tmp_path)
    assert usage.returncode == 2
    unknown = run_dxcoder("resolve", "x", "--release", "FY1999", database_url=any_db_url,
                          data_dir=tmp_path)
    assert unknown.returncode == 1
    assert "FY1999" in unknown.stderr and "FY2025" in unknown.stderr


def test_override_refuses_what_is_not_billable_in_the_newest_release(any_db_url: str,
                                                                    tmp_path: Path) -> None:
    header = run_dxcoder("override", "add", "sugar", "E11", database_url=any_db_url,
                         data_dir=tmp_path)
    assert header.returncode == 1
    assert "E11 is a header" in header.stderr and "FY2026" in header.stderr
    retired = run_dxcoder("override", "add", "ms", "G35", database_url=any_db_url,
                          data_dir=tmp_path)
    assert retired.returncode == 1
    nonsense = run_dxcoder("override", "add", "sugar", "hello", database_url=any_db_url,
                           data_dir=tmp_path)
    assert nonsense.returncode == 1
    empty = run_dxcoder("override", "add", "!!!", "E11.9", database_url=any_db_url,
                        data_dir=tmp_path)
    assert empty.returncode == 2
    missing = run_dxcoder("override", "remove", "never added", database_url=any_db_url,
                          data_dir=tmp_path)
    assert missing.returncode == 1
    listed = run_dxcoder("override", "list", "--json", database_url=any_db_url, data_dir=tmp_path)
    assert listed.returncode == 0 and listed.stdout == ""


def test_override_add_twice_replaces(any_db_url: str, tmp_path: Path) -> None:
    for code in ("E11.9", "E11.65"):
        done = run_dxcoder("override", "add", "sugar", code, database_url=any_db_url,
                           data_dir=tmp_path)
        assert done.returncode == 0, done.stderr
    assert "replaced (was E11.9)" in done.stdout
    listed = run_dxcoder("override", "list", "--json", database_url=any_db_url, data_dir=tmp_path)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["term"], r["code"]) for r in rows] == [("sugar", "E11.65")]
    resolved = run_dxcoder("resolve", "SUGAR", database_url=any_db_url, data_dir=tmp_path)
    assert json.loads(resolved.stdout)["method"] == "override"


def test_an_override_may_name_several_codes(any_db_url: str, tmp_path: Path) -> None:
    added = run_dxcoder("override", "add", "Zzqx renal hypertensive thing", "i12.9 + N18.30",
                        "--note", "reviewed", database_url=any_db_url, data_dir=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "-> I12.9+N18.30 Hypertensive chronic kidney disease" in added.stdout
    done = run_dxcoder("resolve", "zzqx renal hypertensive THING", database_url=any_db_url,
                       data_dir=tmp_path)
    row = json.loads(done.stdout)
    assert (row["status"], row["code"], row["method"]) == ("resolved", "I12.9+N18.30", "override")
    assert row["description"].count("; ") == 1
    refused = run_dxcoder("override", "add", "Zzqx other thing", "I10+E11",
                          database_url=any_db_url, data_dir=tmp_path)
    assert refused.returncode == 1
    assert "E11 is a header, not a billable code" in refused.stderr
