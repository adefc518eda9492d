"""`dxcoder review import`: decisions applied to every line of the entry, refused sheets, history."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from tests.review.helpers import dx, read_csv, run_job
from worker import db
from worker.models import Result as ResultRow
from worker.models import ResultHistory, ReviewDecision


def _decide(sheet: Path, decisions: dict[str, str], out: Path | None = None) -> Path:
    """Fill in the decision column of an exported sheet, as a reviewer would."""
    rows = read_csv(sheet.read_text())
    for row in rows:
        row["decision"] = decisions.get(row["entry"], "")
    target = out or sheet
    with target.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def _lines(job: str) -> dict[int, ResultRow]:
    with db.session_scope() as session:
        rows = session.scalars(select(ResultRow).where(ResultRow.job_id == job)).all()
        session.expunge_all()
    return {r.line_no: r for r in rows}


def test_a_decision_applies_to_every_line_of_the_entry(any_db_url: str, tmp_path: Path) -> None:
    job = run_job(tmp_path)
    sheet = tmp_path / "queue.csv"
    assert dx("review", "export", job, "-o", str(sheet), tmp_path=tmp_path).returncode == 0
    rows = read_csv(sheet.read_text())
    femur = next(r["entry"] for r in rows if "femur" in r["entry"])
    # A candidate as the sheet shows it, a plain code, and a typed code of the release.
    first_candidate = rows[0]["candidates"].split(" | ")[0]
    _decide(sheet, {"possible pneumonia": first_candidate, "250": "E11.9", femur: "S72.92XA"})
    before = _lines(job)
    done = dx("review", "import", str(sheet), "--reviewer", "alice", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 decisions applied to 7 lines" in done.stdout
    after = _lines(job)
    pneumonia = first_candidate.split()[0]
    for n in (2, 4, 6, 9):
        line = after[n]
        assert (line.status, line.code, line.method, line.confidence) == \
            ("resolved", pneumonia, "review", 1.0)
        assert "reviewed by alice" in line.message
        assert line.description
    assert (after[5].code, after[8].code, after[10].code) == ("E11.9", "E11.9", "S72.92XA")
    # Lines that did not need review are left alone.
    assert after[3].method != "review" and after[3].code == before[3].code
    assert after[11].status == "no_match"
    with db.session_scope() as session:
        history = {h.line_no: h for h in session.scalars(
            select(ResultHistory).where(ResultHistory.job_id == job))}
        decisions = session.scalars(select(ReviewDecision)).all()
        assert {(d.reviewer, d.scope, d.state, d.lines) for d in decisions} == {
            ("alice", "job", "applied", 4), ("alice", "job", "applied", 2),
            ("alice", "job", "applied", 1)}
    assert sorted(history) == [2, 4, 5, 6, 8, 9, 10]
    assert all(h.old_status == "needs_review" and h.new_method == "review"
               for h in history.values())
    assert history[5].old_code == before[5].code and history[5].new_code == "E11.9"
    # The history is a run's: `recode report RUN` lists the lines and what they were.
    run = done.stdout.split("recode report ")[1].split(")")[0]
    report = read_csv(dx("recode", "report", run, tmp_path=tmp_path).stdout)
    assert sorted(int(r["line_no"]) for r in report) == [2, 4, 5, 6, 8, 9, 10]
    assert {r["change"] for r in report} == {"reviewed"}
    # The counts and the results export follow.
    status = dx("status", job, "--json", tmp_path=tmp_path)
    assert '"needs_review"' not in status.stdout or '"needs_review": 0' in status.stdout
    exported = dx("results", job, tmp_path=tmp_path)
    assert [r["method"] for r in read_csv(exported.stdout)].count("review") == 7
    waiting = dx("results", job, "--status", "needs_review", tmp_path=tmp_path)
    assert waiting.returncode == 0 and read_csv(waiting.stdout) == []
    listed = dx("jobs", tmp_path=tmp_path)
    assert "0 needs_review" in listed.stdout


def test_a_bad_sheet_is_refused_whole_with_file_and_row(any_db_url: str, tmp_path: Path) -> None:
    job = run_job(tmp_path)
    sheet = tmp_path / "queue.csv"
    assert dx("review", "export", job, "-o", str(sheet), tmp_path=tmp_path).returncode == 0
    rows = read_csv(sheet.read_text())
    femur = next(r["entry"] for r in rows if "femur" in r["entry"])
    # Row 2: good; row 3 (250): an unknown code; the femur row: a header, not billable.
    _decide(sheet, {"possible pneumonia": "J18.9", "250": "E11.99", femur: "S72"})
    before = _lines(job)
    done = dx("review", "import", str(sheet), "--reviewer", "bob", tmp_path=tmp_path)
    assert done.returncode == 1
    femur_row = 2 + [r["entry"] for r in rows].index(femur)
    assert f"{sheet}: row 3: unknown code E11.99" in done.stderr
    assert f"{sheet}: row {femur_row}: S72 is a header, not billable in FY2026" in done.stderr
    assert "nothing was applied" in done.stderr
    assert _lines(job) == before or all(
        (a.code, a.method) == (b.code, b.method) for a, b in zip(
            _lines(job).values(), before.values(), strict=True))
    # --partial applies the row that passed.
    done = dx("review", "import", str(sheet), "--reviewer", "bob", "--partial",
              tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 decisions applied to 4 lines" in done.stdout
    assert _lines(job)[2].code == "J18.9"

    # A code valid in FY2026 but not on a line's date in FY2025 (line 6 is 2025-01-15).
    dated = _decide(sheet, {"possible pneumonia": "B88.01"}, tmp_path / "dated.csv")
    done = dx("review", "import", str(dated), "--reviewer", "bob", tmp_path=tmp_path)
    assert done.returncode == 1
    assert (f"{dated}: row 2: B88.01 is not a code in FY2025, the release of line 6 (date of "
            "service 2025-01-15): not valid on the lines' dates of service") in done.stderr
    assert _lines(job)[2].code == "J18.9"
    # A sheet from another job, and a bad header.
    other = run_job(tmp_path, [("X1", "possible pneumonia", "2026-01-10")], name="other")
    foreign = tmp_path / "foreign.csv"
    text = sheet.read_text().replace(job, other)
    foreign.write_text(text)
    done = dx("review", "import", str(foreign), "--reviewer", "bob", "--job", job,
              tmp_path=tmp_path)
    assert done.returncode == 1 and f"{foreign}: row 2: the row is of job {other}" in done.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("term,code\npossible pneumonia,J18.9\n")
    done = dx("review", "import", str(bad), "--reviewer", "bob", tmp_path=tmp_path)
    assert done.returncode == 1 and f"{bad}: row 1: the header lacks job, entry, decision" \
        in done.stderr
