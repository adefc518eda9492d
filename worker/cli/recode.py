"""`dxcoder recode run|report|list`: re-check stored results against new releases and overrides."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

import click

from worker.cli.base import date_option, ensure_schema
from worker.errors import DependencyUnavailable, JobError
from worker.models import RecodeRun
from worker.recode import apply, report, runs
from worker.settings import get_settings


@click.group("recode")
def recode() -> None:
    """Re-check stored results against new code-set releases, overrides and synonyms."""


def summary_line(run: RecodeRun) -> str:
    counts = run.counts or {}
    shown = ", ".join(f"{name} {counts[name]:,}" for name in runs.CLASSES if counts.get(name))
    dry = " (dry run: a preview, results unchanged)" if run.dry_run else ""
    return (f"recoding run {run.id} {run.status}: {run.chunks_done}/{run.chunk_count} chunks, "
            f"{counts.get('checked', 0):,} lines checked ({shown or 'none'}){dry}")


def wait_for(run_id: str, poll: float = 0.5) -> RecodeRun:
    run = runs.get_run(run_id)
    while run.status == runs.RunState.RUNNING:
        time.sleep(poll)
        run = runs.get_run(run_id)
    return run


@recode.command("run")
@click.option("--job", "job_id", help="Only this job's lines.")
@click.option("--since", callback=date_option, help="Only lines of jobs submitted on or after YYYY-MM-DD.")
@click.option("--dry-run", is_flag=True, help="Classify and count the changes, keep them for "
              "`recode report`; change no result.")
@click.option("--resume", "resume", metavar="RUN", help="Continue a crashed run where it stopped.")
@click.option("--wait", is_flag=True, help="Wait for the run to finish and print its counts.")
def recode_run(job_id: str | None, since: dt.date | None, dry_run: bool, resume: str | None,
               wait: bool) -> None:
    """Start a recoding run now (the nightly run does the same on beat); prints the run id.

    Exits 1 without starting when another run is still running. Embedded (no servers): the
    chunks run in this process.
    """
    ensure_schema()
    if resume and (job_id or since or dry_run):
        raise click.UsageError("--resume continues a run as it was planned; drop --job, --since "
                               "and --dry-run")
    if job_id is not None:
        from worker import db
        from worker.lifecycle.purge import purge_note

        with db.session_scope() as session:
            note = purge_note(session, job_id)
        if note is not None:  # nothing left to re-check: say so, and it is not a failure
            click.echo(f"{note}; nothing to recode", err=True)
            return
    scope = {"job_id": job_id, "since": since, "dry_run": dry_run, "resume": resume}
    if get_settings().is_embedded:
        started = runs.start(trigger="cli", **scope)  # type: ignore[arg-type]
        if started.chunk_ids:
            apply.run_inline(started.chunk_ids)
    else:
        from tasks.recode import start_and_send

        try:
            started = start_and_send(trigger="cli", **scope)
        except DependencyUnavailable as exc:
            raise JobError(f"the run is planned but its chunks could not all be queued ({exc}); "
                           "`dxcoder recode run` resumes it once Redis is back") from None
    if started.outcome == "busy":
        raise JobError(started.detail + (f"; resume a crashed run with `dxcoder recode run "
                                         f"--resume {started.run_id}`"
                                         if "still running" in started.detail else ""))
    click.echo(started.run_id)
    click.echo(started.line(), err=True)
    if wait or get_settings().is_embedded:
        assert started.run_id is not None
        run = wait_for(started.run_id)
        click.echo(summary_line(run), err=True)
        sys.exit(0 if run.status == runs.RunState.DONE else 1)


@recode.command("report")
@click.argument("run_id", metavar="RUN")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="CSV file to write (default: standard output).")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON instead.")
def recode_report(run_id: str, output: Path | None, as_json: bool) -> None:
    """A run's changed lines as CSV (job, line, class, old/new code, release, method)."""
    ensure_schema()
    run = runs.get_run(run_id)
    from worker import db
    from worker.lifecycle.purge import purged_jobs_of_run

    with db.session_scope() as session:
        for note in purged_jobs_of_run(session, run.id):
            click.echo(note, err=True)  # their changed lines went with them
    if as_json:
        click.echo(json.dumps({"run_id": run.id, "status": run.status, "trigger": run.trigger,
                               "dry_run": run.dry_run, "scope": run.scope,
                               "chunks": run.chunk_count, "chunks_done": run.chunks_done,
                               "counts": run.counts}))
        return
    if output is None:
        report.write_report(run.id, sys.stdout)
        if run.dry_run:
            click.echo(summary_line(run), err=True)
        return
    with output.open("w", encoding="utf-8", newline="") as fh:
        rows = report.write_report(run.id, fh)
    click.echo(f"{rows:,} changes -> {output}", err=True)
    click.echo(summary_line(run), err=True)


@recode.command("list")
@click.option("--limit", default=20, show_default=True, help="How many of the newest runs.")
def recode_list(limit: int) -> None:
    """The newest recoding runs with their counts."""
    ensure_schema()
    for run in runs.list_runs(limit):
        click.echo(f"{run.started_at:%Y-%m-%d %H:%M} {run.trigger:<5} {summary_line(run)}")
