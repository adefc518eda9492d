"""`dxcoder review export`: one row per distinct entry, most lines first, candidates with qualifiers."""

from __future__ import annotations

from pathlib import Path

from tests.review.helpers import dx, read_csv, run_job


def test_export_writes_one_row_per_entry_sorted_by_lines(any_db_url: str, tmp_path: Path) -> None:
    job = run_job(tmp_path)
    out = tmp_path / "queue.csv"
    done = dx("review", "export", job, "-o", str(out), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_csv(out.read_text())
    print(out.read_text())
    assert list(rows[0]) == ["job", "entry", "lines", "example_line_nos", "status", "message",
                             "candidates", "decision", "note"]
    assert {r["job"] for r in rows} == {job}
    # "possible pneumonia" in two spellings is one entry of four lines (2, 4, 6, 9).
    assert rows[0]["entry"] == "possible pneumonia"
    assert (rows[0]["lines"], rows[0]["example_line_nos"]) == ("4", "2 4 6 9")
    assert rows[1]["entry"] == "250" and rows[1]["lines"] == "2"
    assert [int(r["lines"]) for r in rows] == sorted((int(r["lines"]) for r in rows),
                                                     reverse=True)
    assert all(r["status"] == "needs_review" and r["decision"] == "" for r in rows)
    assert "J18.9" in rows[0]["candidates"]
    femur = next(r for r in rows if "femur" in r["entry"])
    assert "satisfies: side left, encounter initial" in femur["candidates"]
    # --all adds the no_match entries.
    assert "xqzzy" not in {r["entry"] for r in rows}
    every = tmp_path / "all.csv"
    assert dx("review", "export", job, "-o", str(every), "--all", tmp_path=tmp_path).returncode == 0
    assert "xqzzy" in {r["entry"] for r in read_csv(every.read_text())}


def test_the_xlsx_sheet_offers_each_rows_candidates_and_reads_back(sqlite_url: str,
                                                                  tmp_path: Path) -> None:
    import os

    from openpyxl import load_workbook

    job = run_job(tmp_path)
    out = tmp_path / "queue.xlsx"
    done = dx("review", "export", job, "-o", str(out), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert os.stat(out).st_mode & 0o777 == 0o600
    book = load_workbook(out)
    sheet, choices = book["review"], book["choices"]
    assert choices.sheet_state == "hidden"
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["job", "entry", "lines"] and header[7] == "decision"
    assert sheet["B2"].value == "possible pneumonia" and sheet["C2"].value == 4
    # Row 3 (250) offers its five candidates and no_match in the decision cell's drop-down.
    validations = {str(v.sqref): v.formula1 for v in sheet.data_validations.dataValidation}
    assert validations["H3"] == "choices!$A$3:$F$3"
    offered = [choices.cell(row=3, column=n).value for n in range(1, 7)]
    assert offered[0].startswith("E11.9 Type 2 diabetes") and offered[-1] == "no_match"
    # A coder picks from the drop-down (the cell holds the option's text) and saves.
    sheet["H3"] = offered[1]
    sheet["H2"] = "J18.9"
    book.save(out)
    done = dx("review", "import", str(out), "--reviewer", "carol", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 decisions applied to 6 lines" in done.stdout
    waiting = read_csv(dx("results", job, "--status", "needs_review", tmp_path=tmp_path).stdout)
    assert [r["line_no"] for r in waiting] == ["10"]
