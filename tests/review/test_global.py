"""Global review decisions: approved mappings later jobs and the recoding apply; consensus; windows."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.review.helpers import dx, read_csv, run_job
from tests.review.test_import import _decide, _lines
from worker import db
from worker.models import Override
from worker.recode import apply as recode_apply
from worker.recode import runs

PNEUMONIA = [("P1", "possible pneumonia", "2025-06-01"), ("P2", "Possible pneumonia!", "2026-02-01")]


def _recode(job: str) -> None:
    """The nightly recoding's code, in this process (beat sends the same chunks to workers)."""
    started = runs.start(trigger="cli", job_id=job)
    recode_apply.run_inline(started.chunk_ids)


def test_a_global_decision_is_an_approved_mapping_for_later_jobs_and_recoding(
        any_db_url: str, tmp_path: Path) -> None:
    waiting = run_job(tmp_path, PNEUMONIA, name="earlier")  # resolved before the decision
    job = run_job(tmp_path)
    sheet = tmp_path / "queue.csv"
    assert dx("review", "export", job, "-o", str(sheet), tmp_path=tmp_path).returncode == 0
    _decide(sheet, {"possible pneumonia": "J18.9", "250": "no_match"})
    done = dx("review", "import", str(sheet), "--reviewer", "alice", "--scope", "global",
              tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "approved mappings: 2" in done.stdout
    with db.session_scope() as session:
        kept = {o.term_key: (o.code, o.reviewer, o.job_id) for o in session.scalars(
            select(Override))}
    assert kept == {"possible pneumonia": ("J18.9", "alice", job),
                    "250": ("no_match", "alice", job)}
    assert _lines(job)[5].status == "no_match" and _lines(job)[5].method == "review"
    listed = dx("override", "list", tmp_path=tmp_path).stdout
    assert f"[review: alice, job {job[:12]}]" in listed

    later = run_job(tmp_path, [*PNEUMONIA, ("P3", "250", "2026-03-01")], name="later")
    lines = _lines(later)
    assert [(lines[n].status, lines[n].code, lines[n].method) for n in (2, 3)] == \
        [("resolved", "J18.9", "override")] * 2
    assert (lines[4].status, lines[4].method) == ("no_match", "override")

    assert {r.status for r in _lines(waiting).values()} == {"needs_review"}
    _recode(waiting)
    assert {(r.status, r.code, r.method) for r in _lines(waiting).values()} == \
        {("resolved", "J18.9", "override")}


def test_consensus_waits_for_a_second_reviewer(any_db_url: str, tmp_path: Path) -> None:
    job = run_job(tmp_path)
    sheet = tmp_path / "queue.csv"
    assert dx("review", "export", job, "-o", str(sheet), tmp_path=tmp_path).returncode == 0
    _decide(sheet, {"possible pneumonia": "J18.9"})
    consensus = {"review_consensus": "true"}
    done = dx("review", "import", str(sheet), "--reviewer", "alice", "--scope", "global",
              tmp_path=tmp_path, **consensus)
    assert done.returncode == 0, done.stderr
    assert "waiting for a second reviewer: 1" in done.stdout
    assert _lines(job)[2].method == "review"  # the job's own lines take it at once
    pending = dx("review", "pending", tmp_path=tmp_path, **consensus)
    assert "J18.9" in pending.stdout and "alice" in pending.stdout
    with db.session_scope() as session:
        assert session.scalars(select(Override)).all() == []
    later = run_job(tmp_path, PNEUMONIA, name="later")
    assert {r.status for r in _lines(later).values()} == {"needs_review"}

    # The same reviewer again is not consensus; a second reviewer's other code is not either.
    again = dx("review", "import", str(sheet), "--reviewer", "alice", "--scope", "global",
               tmp_path=tmp_path, **consensus)
    assert "waiting for a second reviewer: 1" in again.stdout
    other = _decide(sheet, {"possible pneumonia": "J18.8"}, tmp_path / "carol.csv")
    assert "waiting for a second reviewer: 1" in dx(
        "review", "import", str(other), "--reviewer", "carol", "--scope", "global",
        tmp_path=tmp_path, **consensus).stdout
    agreed = dx("review", "import", str(sheet), "--reviewer", "bob", "--scope", "global",
                tmp_path=tmp_path, **consensus)
    assert "approved mappings: 1" in agreed.stdout, agreed.stdout + agreed.stderr
    with db.session_scope() as session:
        (mapping,) = session.scalars(select(Override)).all()
        assert (mapping.code, mapping.reviewer) == ("J18.9", "alice, bob")
    assert "no decisions waiting" in dx("review", "pending", tmp_path=tmp_path).stdout
    newest = run_job(tmp_path, PNEUMONIA, name="newest")
    assert {(r.code, r.method) for r in _lines(newest).values()} == {("J18.9", "override")}


def test_a_mapping_with_a_date_of_service_window(any_db_url: str, tmp_path: Path) -> None:
    job = run_job(tmp_path)
    sheet = tmp_path / "queue.csv"
    assert dx("review", "export", job, "-o", str(sheet), tmp_path=tmp_path).returncode == 0
    _decide(sheet, {"possible pneumonia": "J18.9"})
    done = dx("review", "import", str(sheet), "--reviewer", "alice", "--scope", "global",
              "--dos-from", "2026-01-01", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    later = _lines(run_job(tmp_path, PNEUMONIA, name="later"))
    assert (later[2].status, later[3].status, later[3].code) == \
        ("needs_review", "resolved", "J18.9")
    listed = read_csv(dx("results", job, tmp_path=tmp_path).stdout)
    assert listed[0]["method"] == "review"  # the job's own lines took it
