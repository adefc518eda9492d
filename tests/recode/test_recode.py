"""Recoding runs through real prefork workers, real Redis and a real PostgreSQL copy."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from tests.clitools import cli
from tests.conftest import PipelineEnv
from tests.recode.helpers import (
    FY2025_DAY,
    FY2026_DAY,
    claims_file,
    report_rows,
    results,
    run_row,
    submit,
)
from worker import db
from worker.models import Job, Override, RecodeRun, ResultHistory
from worker.resolver.normalize import text_key

# Real FY2025 -> FY2026 changes (see `dxcoder codeset diff FY2025 FY2026`).
EXPANDED, RETITLED, DELETED = "G35", "C84.10", "S30.1XXA"
SECRET_TERM = "Zzqx flurbonic syndrome"


def _pinned_job(env: PipelineEnv, tmp_path: Path) -> str:
    """A job resolved against FY2025 (pinned) whose dates of service are in FY2026."""
    rows = [(EXPANDED, FY2026_DAY), (RETITLED, FY2026_DAY), (DELETED, FY2026_DAY),
            ("E11.9", FY2026_DAY), (EXPANDED, FY2025_DAY)]
    return submit(env, claims_file(tmp_path / "pinned.csv", rows), "--release", "FY2025")


def _run(env: PipelineEnv, *args: str) -> str:
    result = cli(env, "recode", "run", "--wait", *args)
    assert result.returncode == 0, result.stderr
    return str(result.stdout.strip())


def test_a_new_release_reclassifies_stored_results(pipeline: PipelineEnv, tmp_path: Path
                                                   ) -> None:
    pipeline.start_worker()
    job_id = _pinned_job(pipeline, tmp_path)
    before = results(job_id)
    assert before[1].code == "G35" and before[1].code_set == "FY2025"
    assert before[1].status == "resolved"

    # Dry run: the same classes counted, no result changed, the changes shown as a preview.
    dry = _run(pipeline, "--dry-run")
    dry_counts = run_row(dry).counts
    assert dry_counts is not None
    assert {k: dry_counts[k] for k in ("expanded", "retitled", "deleted", "unchanged")} == {
        "expanded": 1, "retitled": 1, "deleted": 1, "unchanged": 1}
    assert {(r.code, r.code_set) for r in results(job_id).values()} == {
        (r.code, r.code_set) for r in before.values()}
    preview = {int(r["line_no"]) - 1: r for r in report_rows(pipeline, dry)}  # by row
    assert {n: r["change"] for n, r in preview.items()} == {
        1: "expanded", 2: "retitled", 3: "deleted"}
    assert preview[1]["old_code"] == "G35" and preview[1]["new_status"] == "needs_review"
    shown = cli(pipeline, "recode", "report", dry)
    assert "dry run: a preview, results unchanged" in shown.stderr

    run_id = _run(pipeline)
    run = run_row(run_id)
    assert run.status == "done" and run.trigger == "cli"
    assert run.counts is not None and run.counts["checked"] == 4
    assert {k: run.counts[k] for k in ("expanded", "retitled", "deleted", "unchanged",
                                       "newly_resolved")} == {
        "expanded": 1, "retitled": 1, "deleted": 1, "unchanged": 1, "newly_resolved": 0}
    changes = {int(r["line_no"]) - 1: r for r in report_rows(pipeline, run_id)}  # by row
    assert {n: r["change"] for n, r in changes.items()} == {
        1: "expanded", 2: "retitled", 3: "deleted"}
    assert changes[1]["old_code"] == "G35" and changes[1]["new_status"] == "needs_review"
    assert changes[1]["new_alternatives"].startswith("G35.D|")
    assert changes[3]["new_alternatives"] == "S30.11XA|S30.12XA|S30.13XA"
    assert all(r["old_code_set"] == "FY2025" and r["new_code_set"] == "FY2026"
               for r in changes.values())

    after = results(job_id)
    assert (after[1].status, after[1].code, after[1].code_set) == ("needs_review", "G35.D",
                                                                   "FY2026")
    assert after[2].code == RETITLED and after[2].description.startswith("Sézary")
    assert after[4].code == "E11.9" and after[4].code_set == "FY2026"  # re-stamped, unchanged
    assert (after[5].code, after[5].code_set) == ("G35", "FY2025")  # 2025-03: FY2025 in force
    # `status` counts methods as the results are now, not as the job left them.
    live = dict(sorted(Counter(r.method or "none" for r in after.values()).items()))
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.summary is not None
        assert job.summary["by_method"] != live  # what the job's own summary still says
    shown = cli(pipeline, "status", job_id)
    assert f"by method: {json.dumps(live)}" in shown.stdout, shown.stdout
    with db.session_scope() as session:
        history = {h.line_no - 1: h for h in session.scalars(  # by row, as results()
            select(ResultHistory).where(ResultHistory.run_id == run_id))}
    assert set(history) == {1, 2, 3}
    assert (history[1].old_code, history[1].old_method, history[1].old_status) == (
        "G35", "code_exact", "resolved")
    assert history[2].old_description == "Sezary disease, unspecified site"

    # Nothing is left to change: a second run checks nothing and stores nothing.
    again = run_row(_run(pipeline))
    assert again.counts is not None and again.counts["checked"] == 0
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ResultHistory)
                              .where(ResultHistory.run_id == again.id)) == 0
        assert session.scalar(select(func.count()).select_from(ResultHistory)) == 6  # 3 + preview

    # One `recode.completed` JSON record per run, counts per class, no diagnosis text.
    logged = [e for w in pipeline.workers for e in w.events()
              if e.get("event") == "recode.completed" and e.get("run_id") == run_id]
    assert len(logged) == 1 and logged[0]["counts"]["expanded"] == 1


def test_an_override_added_after_a_job_resolves_its_lines(pipeline: PipelineEnv,
                                                          tmp_path: Path) -> None:
    pipeline.start_worker()
    rows = [(SECRET_TERM, FY2026_DAY), ("E11.9", FY2026_DAY), (SECRET_TERM.upper() + " ", FY2025_DAY)]
    job_id = submit(pipeline, claims_file(tmp_path / "text.csv", rows))
    before = results(job_id)
    assert before[1].status in ("no_match", "needs_review")
    assert _nothing_to_do(pipeline)

    with db.session_scope() as session:
        session.add(Override(term_key=text_key(SECRET_TERM), term=SECRET_TERM, code="E11.9"))
    run_id = _run(pipeline)
    changes = {int(r["line_no"]) - 1: r for r in report_rows(pipeline, run_id)}  # by row
    assert {n: r["change"] for n, r in changes.items()} == {1: "newly_resolved",
                                                            3: "newly_resolved"}
    assert all(r["new_code"] == "E11.9" and r["new_method"] == "override"
               for r in changes.values())
    assert changes[3]["new_code_set"] == "FY2025"  # its own date's release
    after = results(job_id)
    assert after[1].status == "resolved" and after[1].method == "override"
    assert after[2].resolved_at == before[2].resolved_at  # not a candidate: untouched
    logs = "".join(w.log_path.read_text() for w in pipeline.workers)
    assert "flurbonic" not in logs.lower()


def _nothing_to_do(env: PipelineEnv) -> bool:
    run = run_row(_run(env))
    return run.counts is not None and run.counts["checked"] == 0


def test_codeset_diff_lists_all_five_kinds(pg_url: str, tmp_path: Path) -> None:
    from tests.clitools import run_dxcoder

    out = tmp_path / "diff.csv"
    result = run_dxcoder("codeset", "diff", "FY2025", "FY2026", "-o", str(out),
                         database_url=pg_url, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("FY2025 -> FY2026: added 614, deleted 12, retitled 39, respelled 157, expanded 16"
            in result.stdout)
    import csv

    with out.open() as fh:
        rows = {r["code"]: r for r in csv.DictReader(fh)}
    assert rows["G35"]["kind"] == "expanded" and rows["G35"]["successors"].startswith("G35.D|")
    assert rows[DELETED]["kind"] == "deleted" and rows[RETITLED]["kind"] == "respelled"
    assert rows["S62.90"]["kind"] == "retitled"  # wrist and hand -> hand
    assert rows["G35.A"]["kind"] == "added"
    only = run_dxcoder("codeset", "diff", "FY2025", "FY2026", "--kind", "expanded",
                       database_url=pg_url, data_dir=tmp_path)
    lines = only.stdout.splitlines()
    assert len(lines) == 16 and all(line.startswith("expanded") for line in lines)
    assert any(line.split()[1] == "G35" for line in lines)
    unknown = run_dxcoder("codeset", "diff", "FY2025", "FY2099", database_url=pg_url,
                          data_dir=tmp_path)
    assert unknown.returncode == 1 and "FY2099" in unknown.stderr


def test_run_report_json_and_busy(pipeline: PipelineEnv, tmp_path: Path) -> None:
    """A run left `running` with live leases makes the next start exit early and say so."""
    from worker.pipeline import lease
    from worker.recode import runs

    pipeline.start_worker()
    _pinned_job(pipeline, tmp_path)
    started = runs.start(trigger="cli")  # planned, not enqueued: chunks wait
    assert started.outcome == "planned" and started.chunks == 1
    lease.stamp_sent(lease.RECODE_CHUNKS, list(started.chunk_ids))  # "sent": leases are live
    busy = cli(pipeline, "recode", "run")
    assert busy.returncode == 1
    assert f"recoding run {started.run_id} is still running (0/1 chunks done)" in busy.stderr
    data = json.loads(cli(pipeline, "recode", "report", str(started.run_id), "--json").stdout)
    assert data["status"] == "running" and data["chunks"] == 1
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(RecodeRun)) == 1


def test_new_synonyms_recheck_unresolved_lines_only(pipeline: PipelineEnv, tmp_path: Path
                                                    ) -> None:
    from sqlalchemy import update

    from worker.models import CodeSetRelease, DataVersion, Term, utcnow

    pipeline.start_worker()
    term = "Qworble renal insufficiency"
    rows = [(term, FY2026_DAY), ("E11.9", FY2026_DAY)]
    job_id = submit(pipeline, claims_file(tmp_path / "syn.csv", rows))
    before = results(job_id)
    assert before[1].status in ("no_match", "needs_review")
    with db.session_scope() as session:
        fy2026 = session.scalar(select(CodeSetRelease.id).where(CodeSetRelease.label == "FY2026"))
        session.add(Term(release_id=fy2026, code="N18.9", text=term, kind="synonym"))
        session.execute(update(DataVersion).where(DataVersion.name == "synonyms")
                        .values(checksum="curated-update", loaded_at=utcnow()))
    run_id = _run(pipeline)
    assert run_row(run_id).counts["checked"] == 1  # type: ignore[index]
    changes = report_rows(pipeline, run_id)
    assert [(r["line_no"], r["change"], r["new_code"], r["new_method"]) for r in changes] == [
        ("2", "newly_resolved", "N18.9", "synonym")]  # row 1, on line 2 after the header
    assert results(job_id)[2].resolved_at == before[2].resolved_at


def test_scope_by_job_and_date(pipeline: PipelineEnv, tmp_path: Path) -> None:
    import datetime as dt

    pipeline.start_worker()
    first = _pinned_job(pipeline, tmp_path)
    other = submit(pipeline, claims_file(tmp_path / "other.csv", [("G35", FY2026_DAY)]),
                   "--release", "FY2025")
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert run_row(_run(pipeline, "--since", tomorrow)).counts["checked"] == 0  # type: ignore[index]
    only = _run(pipeline, "--job", other)
    assert {r["job_id"] for r in report_rows(pipeline, only)} == {other}
    rest = _run(pipeline, "--since", dt.date.today().isoformat())
    assert {r["job_id"] for r in report_rows(pipeline, rest)} == {first}
    bad = cli(pipeline, "recode", "run", "--since", "yesterday")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
