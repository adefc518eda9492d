"""`dxcoder jobs purge`: remove jobs' claims data by age or by job, keeping a summary row."""

from __future__ import annotations

import click

from worker.cli.base import ensure_schema
from worker.lifecycle import purge


@click.command("purge")
@click.option("--older-than", "older_than", metavar="AGE",
              help="Jobs submitted more than AGE ago (90d, 12w), and inbox archive/ and outbox/ "
                   "files as old.")
@click.option("--job", "job_id", metavar="JOB", help="This one job.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before removing.")
def purge_command(older_than: str | None, job_id: str | None, dry_run: bool, yes: bool) -> None:
    """Delete jobs' staged lines, results, result history, chunks and task metrics.

    Each job keeps a summary row (status `purged`: counts, times, file hash; no name, no file
    name). Jobs still queued or running are left alone. Beat does this daily for everything
    older than DXCODER_RETENTION_DAYS.
    """
    if (older_than is None) == (job_id is None):
        raise click.UsageError("give --older-than AGE or --job JOB")
    age = purge.parse_age(older_than) if older_than is not None else None
    ensure_schema()
    preview = purge.purge_jobs(older_than=age, job_id=job_id, dry_run=True)
    if age is not None:
        purge.purge_inbox(preview, age)
    for job in preview.jobs:
        click.echo(("would purge " if dry_run else "purge ") + job.line())
    for path in preview.files:
        click.echo(("would delete " if dry_run else "delete ") + str(path))
    if preview.skipped_unfinished:
        click.echo("left alone, still running or being recoded: "
                   + ", ".join(preview.skipped_unfinished))
    if not preview.jobs and not preview.files:
        click.echo("nothing to purge")
        return
    if dry_run:
        click.echo(f"dry run: {len(preview.jobs):,} jobs, {len(preview.files):,} files "
                   "would be purged")
        return
    if not yes:
        click.confirm(f"purge {len(preview.jobs):,} jobs and {len(preview.files):,} files?",
                      abort=True)
    report = purge.purge_jobs(older_than=age, job_id=job_id, trigger="cli")
    if age is not None:
        purge.purge_inbox(report, age)
    totals = ", ".join(f"{table} {n:,}" for table, n in report.totals().items())
    click.echo(f"purged {len(report.jobs):,} jobs ({totals or 'no rows'}), "
               f"{len(report.files):,} files")
