"""`dxcoder review export|import|pending|serve`: work a job's needs_review lines once per entry."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

import click
from sqlalchemy import select

from worker import db
from worker.cli.base import date_option, ensure_schema, fail
from worker.models import ReviewDecision
from worker.pipeline.jobs import get_job
from worker.review import apply, queue, service, sheet
from worker.settings import get_settings

log = logging.getLogger("dxcoder.review")


@click.group("review")
def review() -> None:
    """The review queue: a job's needs_review entries, one row per distinct entry, most lines
    first; decisions apply to every line of the entry and may be kept as approved mappings."""


@review.command("export")
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Sheet to write.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]),
              help="Sheet format (default: from the file name, else csv).")
@click.option("--all", "include_no_match", is_flag=True, help="Add the no_match entries.")
def export_command(job_id: str, output: Path, fmt: str | None, include_no_match: bool) -> None:
    """Write JOB's review sheet: entry, lines, example_line_nos, status, message, candidates
    (best first, with the entry's qualifiers each satisfies), decision and note (blank)."""
    ensure_schema()
    fmt = fmt or ("xlsx" if output.suffix.lower() == ".xlsx" else "csv")
    from worker.lifecycle.purge import purge_note

    with db.session_scope() as session:
        job = get_job(session, job_id)
        purged = purge_note(session, job.id)
        if purged is not None:
            fail(purged)
        entries = queue.read_queue(session, job.id, include_no_match=include_no_match)
        job_id = job.id
    (sheet.write_xlsx if fmt == "xlsx" else sheet.write_csv)(output, job_id, entries)
    lines = sum(len(e.lines) for e in entries)
    log.info("review.exported", extra={"job_id": job_id, "entries": len(entries), "lines": lines})
    click.echo(f"{len(entries):,} entries covering {lines:,} lines -> {output}", err=True)


@review.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--reviewer", required=True, help="Who decided (kept with every decision).")
@click.option("--scope", type=click.Choice([apply.JOB, apply.GLOBAL]), default=apply.JOB,
              show_default=True, help="job: this job's lines; global: also an approved mapping "
              "later jobs and the nightly recoding apply.")
@click.option("--partial", is_flag=True, help="Apply the rows that pass even if others fail.")
@click.option("--job", "job_id", help="The job meant; a sheet of another job is refused.")
@click.option("--dos-from", type=str, callback=date_option,
              help="Global scope: the mapping holds for dates of service from this day.")
@click.option("--dos-to", type=str, callback=date_option,
              help="Global scope: ... through this day.")
def import_command(file: Path, reviewer: str, scope: str, partial: bool, job_id: str | None,
                   dos_from: dt.date | None, dos_to: dt.date | None) -> None:
    """Apply the decisions of a review sheet to every line of each entry (method `review`,
    confidence 1.0). A sheet with any error is refused whole, each error named by file and
    row, unless --partial."""
    ensure_schema()
    reviewer = reviewer.strip()
    if not reviewer or len(reviewer) > 128:
        raise click.BadParameter("give a name of 1 to 128 characters", param_hint="--reviewer")
    if (dos_from or dos_to) and scope != apply.GLOBAL:
        raise click.BadParameter("a date-of-service window is for --scope global",
                                 param_hint="--dos-from/--dos-to")
    try:
        rows = sheet.read(file)
    except sheet.SheetError as exc:
        fail(str(exc))
    outcome = service.import_rows(str(file), rows, reviewer, scope, partial=partial,
                                  job_id=job_id, dos_from=dos_from, dos_to=dos_to)
    for problem in outcome.problems:
        click.echo(f"error: {problem}", err=True)
    done = outcome.applied
    if done is None:
        if outcome.problems:
            fail(f"{file}: {len(outcome.problems)} row(s) refused; nothing was applied"
                 + ("" if partial else " (--partial applies the rows that pass)"))
        click.echo(f"{file}: no decisions to apply (the decision column is blank)", err=True)
        return
    click.echo(f"job {done.job_id}: {done.decisions:,} decisions applied to {done.lines:,} lines "
               f"(history: recode report {done.run_id})")
    if scope == apply.GLOBAL:
        click.echo(f"approved mappings: {done.approved:,}"
                   + (f"; waiting for a second reviewer: {done.pending:,} (`dxcoder review "
                      "pending`)" if done.pending else ""))
    for path in done.outbox:
        click.echo(f"outbox rewritten: {path} (the previous version kept beside it)")


@review.command("pending")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per decision.")
def pending_command(as_json: bool) -> None:
    """Global decisions waiting for a second reviewer's matching decision (consensus)."""
    ensure_schema()
    with db.session_scope() as session:
        rows = session.scalars(select(ReviewDecision).where(ReviewDecision.state == apply.PENDING)
                               .order_by(ReviewDecision.entry_key, ReviewDecision.id)).all()
        records: list[dict[str, str]] = [{"entry": r.entry, "decision": r.decision, "reviewer": r.reviewer,
                    "job": r.job_id, "lines": str(r.lines),
                    "decided_at": r.decided_at.isoformat(timespec="seconds")} for r in rows]
    if as_json:
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    if not records:
        click.echo("no decisions waiting for a second reviewer")
        return
    for r in records:
        click.echo(f"{r['decided_at'][:16]}  {r['decision']:<12} {r['reviewer']:<16} "
                   f"job {r['job'][:12]}  {r['entry']}")


@review.command("serve")
@click.option("--address", help="Address to listen on (default: DXCODER_REVIEW_ADDRESS).")
@click.option("--port", type=int, help="Port (default: DXCODER_REVIEW_PORT).")
def serve_command(address: str | None, port: int | None) -> None:
    """The review page: each job's queue, candidates as choices, a code box and Save (basic
    auth: DXCODER_REVIEW_USER / _PASSWORD; the user is the reviewer)."""
    ensure_schema()
    settings = get_settings()
    if not settings.review_user or not settings.review_password:
        fail("set DXCODER_REVIEW_USER and DXCODER_REVIEW_PASSWORD: the review page shows "
             "claims data and never runs without authentication")
    from worker.review.page import serve

    serve(address or settings.review_address, port or settings.review_port)
    sys.exit(0)
