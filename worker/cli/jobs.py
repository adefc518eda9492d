"""`dxcoder submit|run|jobs|status|results|metrics|retry|worker|beat`: bulk jobs end to end."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from worker import breakers, contract
from worker.cli.base import ensure_schema, sigterm_interrupts
from worker.errors import DependencyUnavailable, JobError, SendFailed, SubmitInterrupted, is_transient
from worker.pipeline import claims, jobs, producer
from worker.pipeline.export import export_results, write_atomically
from worker.settings import get_settings, mask_url

FORMATS = click.Choice(["csv", "jsonl", "x12"], case_sensitive=False)


def _read_options(fmt: str | None, term_column: str | None, id_column: str | None,
                  dos_column: str | None) -> dict[str, Any]:
    return {"format": fmt, "columns": {"term_column": term_column, "id_column": id_column,
                                       "dos_column": dos_column}}


def reader_options(command: Any) -> Any:
    for option in reversed([
        # --format is the old name, kept so scripts go on working; on `results` it names the
        # output format, hence a name of its own here.
        click.option("--input-format", "--format", "fmt", type=FORMATS,
                     help="Format of FILE (default: detected; --format is an alias)."),
        click.option("--term-column", help="Column holding the diagnosis (default: term, dx, …)."),
        click.option("--id-column", help="Column holding the entry id (default: id)."),
        click.option("--dos-column", help="Column holding the date of service."),
    ]):
        command = option(command)
    return command


def _summary_line(status: jobs.JobStatus) -> str:
    return status.line()


def _check_redis() -> None:
    client = breakers.get_breakers().client
    try:
        with breakers.guard_redis():
            client.ping()
    except Exception as exc:
        url = mask_url(get_settings().broker_url)
        raise JobError(f"cannot reach Redis at {url} ({type(exc).__name__}); no job was created. "
                       "Start Redis or set DXCODER_BROKER_URL, then submit again") from None


def _send(chunk_ids: Sequence[int], priority: int | None = None) -> None:
    from tasks.broker import send_job_chunks

    send_job_chunks(chunk_ids, priority)


@click.command("submit")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--name", help="Job name (default: the file name).")
@click.option("--release", help="Resolve every line against this release instead of by date.")
@click.option("--force", is_flag=True, help="Submit again even if this content was submitted.")
@click.option("--wait", is_flag=True, help="Show progress until the job ends; exit 1 on errors.")
@reader_options
def submit_command(file: Path, name: str | None, release: str | None, force: bool, wait: bool,
                   fmt: str | None, term_column: str | None, id_column: str | None,
                   dos_column: str | None) -> None:
    """Stage FILE in the database and queue its chunks for the Celery workers; prints the job id.

    The same file submitted twice is the same job unless --force.
    """
    ensure_schema()
    _check_redis()
    try:
        with sigterm_interrupts():
            submitted = producer.submit(file, send=_send, name=name, release=release,
                                        force=force, **_read_options(fmt, term_column, id_column,
                                                                     dos_column))
    except SubmitInterrupted as exc:
        raise JobError(_cut_off(file, "interrupted", exc.job_id)) from None
    except KeyboardInterrupt:  # before the producer had created a job
        raise JobError(_cut_off(file, "interrupted", None)) from None
    except SendFailed as exc:
        if isinstance(exc.cause, DependencyUnavailable):
            what = str(exc.cause)
        elif is_transient(exc.cause, "redis"):
            what = "Redis failed while queueing chunks"
        else:
            raise exc.cause from None  # a bug, not an outage
        raise JobError(_cut_off(file, what, exc.job_id)) from None
    except DependencyUnavailable as exc:  # while staging: the database's breaker is open
        raise JobError(f"{exc} while submitting {file}; could not check whether its job was "
                       "stored: `dxcoder jobs` lists the jobs") from None
    for warning in submitted.warnings:
        click.echo(f"warning: {warning}", err=True)
    if submitted.existing:
        click.echo(f"same content already submitted as job {submitted.job_id} "
                   "(use --force to submit again)", err=True)
    click.echo(submitted.job_id)
    if wait:
        status = wait_for(submitted.job_id)
        click.echo(_summary_line(status), err=True)
        sys.exit(0 if status.ok else 1)


def _cut_off(file: Path, what: str, job_id: str | None) -> str:
    """Say whether a submit cut off (Ctrl-C, Redis or a breaker) left a job: a broker failure
    leaves the whole job stored (the reconciler sends the rest), an interrupt deletes what was
    staged."""
    if job_id is None:
        return f"{what} while staging {file}; no job was created. Submit it again"
    return (f"{what} after job {job_id} was stored; the reconciler (beat) queues its remaining "
            f"chunks once Redis is reachable. `dxcoder status {job_id}` shows its progress")


class LineRate:
    """The rate the progress bar shows: lines finished since it started, over the time since.

    Lines already done when the bar starts (a job half done, or a small one finished before the
    first poll) are not part of it, and nothing is shown for the first second: a count over a
    few microseconds read as "34,552,575 lines/s"."""

    MIN_SECONDS = 1.0

    def __init__(self, done: int, now: float) -> None:
        self.first_done, self.started = done, now

    def text(self, done: int, now: float) -> str:
        elapsed = now - self.started
        if elapsed < self.MIN_SECONDS:
            return "measuring"
        return f"{(done - self.first_done) / elapsed:,.0f} lines/s"


def wait_for(job_id: str, poll: float = 0.5) -> jobs.JobStatus:
    status = jobs.job_status(job_id)
    done = status.lines_done
    line_rate = LineRate(done, time.monotonic())

    def rate(_: Any) -> str:
        return line_rate.text(done, time.monotonic())

    with click.progressbar(length=max(status.total_lines, 1), label=f"job {job_id[:8]}",
                           show_eta=True, show_pos=True, item_show_func=rate,
                           file=sys.stderr) as bar:
        bar.update(done, current_item=1)
        while not status.finished:
            time.sleep(poll)
            status = jobs.job_status(job_id)
            bar.update(status.lines_done - done, current_item=1)
            done = status.lines_done
    return status


@click.command("run")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Results file to write (one row per input line, in input order).")
@click.option("--output-format", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True)
@click.option("--processes", type=click.IntRange(1, 64),
              help="Worker processes (default: one per core).")
@click.option("--release", help="Resolve every line against this release instead of by date.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@reader_options
def run_command(file: Path, output: Path, output_format: str, processes: int | None,
                release: str | None, quiet: bool, fmt: str | None, term_column: str | None,
                id_column: str | None, dos_column: str | None) -> None:
    """Resolve FILE with no servers (embedded SQLite unless DXCODER_DATABASE_URL says otherwise),
    using the same chunk code as the workers, and write the results to -o."""
    from worker.pipeline.embedded import run_file

    ensure_schema()
    bar: Any = None
    started = time.monotonic()

    def staged(submitted: producer.Submitted) -> None:
        nonlocal bar
        for warning in submitted.warnings:
            click.echo(f"warning: {warning}", err=True)
        if not quiet:
            bar = click.progressbar(length=max(submitted.lines, 1), label="resolving",
                                    show_eta=True, show_pos=True, file=sys.stderr)
            bar.__enter__()

    def progress(lines: int) -> None:
        if bar is not None:
            bar.update(lines)

    try:
        with sigterm_interrupts():
            status = run_file(file, output, fmt=output_format, processes=processes,
                              release=release, progress=progress, on_staged=staged,
                              read_options=_read_options(fmt, term_column, id_column, dos_column))
    except KeyboardInterrupt:
        raise JobError(f"interrupted while running {file}; {output} was not written and no "
                       "unfinished job was kept. Run it again") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    elapsed = time.monotonic() - started
    click.echo(f"{_summary_line(status)} in {elapsed:.1f} s "
               f"({status.total_lines / max(elapsed, 1e-6):,.0f} lines/s) -> {output}")
    sys.exit(0 if status.ok else 1)


@click.group("jobs", invoke_without_command=True)
@click.option("--limit", default=20, show_default=True, help="How many of the newest jobs.")
@click.pass_context
def jobs_command(ctx: click.Context, limit: int) -> None:
    """List the newest jobs: id, status, lines, lines needing review, name. `dxcoder jobs
    purge` removes old ones."""
    from worker import db
    from worker.review.queue import needs_review_counts

    if ctx.invoked_subcommand is not None:
        return
    ensure_schema()
    listed = jobs.list_jobs(limit)
    with db.session_scope() as session:
        waiting = needs_review_counts(session, [job.id for job in listed])
    for job in listed:
        click.echo(f"{job.id}  {job.status:<8} {job.total_lines:>9,} lines  "
                   f"{waiting.get(job.id, 0):>7,} needs_review  "
                   f"{job.created_at:%Y-%m-%d %H:%M}  {job.name}")


@click.command("status")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(job_id: str, as_json: bool) -> None:
    """Progress and counts by status of one job."""
    ensure_schema()
    status = jobs.job_status(job_id, methods=True)
    if as_json:
        click.echo(json.dumps(status.__dict__, default=str))
    else:
        click.echo(status.line())
        if status.by_method:
            # The stored results as they are now (a recoding run changes them after the job).
            click.echo(f"  by method: {json.dumps(status.by_method)}")
        if status.summary:
            click.echo(f"  duration:  {status.summary.get('duration_s')} s")


@click.command("results")
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="File to write (default: standard output).")
@click.option("--output-format", "--format", "fmt", type=click.Choice(["csv", "jsonl"]),
              default="csv", show_default=True, help="Format to write (--format is an alias).")
@click.option("--by-claim", is_flag=True, help="One row per claim (X12: CLM01; else the id "
              "column): claim_id, lines, statuses, codes, principal_code, flags.")
@click.option("--status", "status", type=click.Choice(list(contract.STATUSES)),
              help="Only the lines of this status (needs_review: what waits for a person).")
def results_command(job_id: str, output: Path | None, fmt: str, by_claim: bool,
                    status: str | None) -> None:
    """One row per input line, in input order, streamed (CSV is safe to open in a spreadsheet)."""
    ensure_schema()
    if status is not None and by_claim:
        raise click.BadParameter("--status filters lines; --by-claim writes claims",
                                 param_hint="--status")
    _refuse_purged(job_id)
    write = claims.write_claim_results if by_claim else export_results
    if status is not None:
        write = functools.partial(export_results, status=status)
    if output is None:
        write(job_id, sys.stdout, fmt)
        return
    count = 0

    def export(fh: IO[str]) -> None:
        nonlocal count
        count = write(job_id, fh, fmt)

    # All or nothing: an unknown job, a database failure or a stop part-way leaves OUTPUT as it
    # was (a file that stops short could pass for a whole one further down the line).
    with sigterm_interrupts():
        write_atomically(output, export)
    click.echo(f"{count:,} {'claims' if by_claim else 'results'} -> {output}", err=True)


def _refuse_purged(job_id: str) -> None:
    from worker import db
    from worker.lifecycle.purge import purge_note

    with db.session_scope() as session:
        note = purge_note(session, job_id)
    if note is not None:
        raise JobError(note)


@click.command("metrics")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def metrics_command(job_id: str, as_json: bool) -> None:
    """Per-job aggregates from the task metrics: lines/s, p50/p95 task time, retries, errors."""
    ensure_schema()
    data = jobs.job_metrics(job_id)
    if as_json:
        click.echo(json.dumps(data))
        return
    for key, value in data.items():
        click.echo(f"{key:<24}{json.dumps(value) if isinstance(value, dict) else value}")


@click.command("retry")
@click.argument("job_id")
def retry_command(job_id: str) -> None:
    """Send a job's `error` lines through the workers again (embedded: resolve them here)."""
    ensure_schema()
    _refuse_purged(job_id)  # its lines are gone, and its summary row must stay as it is
    embedded = get_settings().is_embedded
    if not embedded:
        _check_redis()
    job, chunk_ids = jobs.prepare_retry(job_id)
    if not chunk_ids:
        click.echo(f"job {job} has no error lines to retry")
        return
    if embedded:
        # No workers serve an embedded database: its chunk ids mean nothing to the shared
        # queue's workers (or worse, name other jobs' chunks there). The same chunk code as
        # `dxcoder run`, in this process.
        from worker.pipeline.embedded import run_chunks

        run_chunks(chunk_ids, processes=min(len(chunk_ids), os.cpu_count() or 1))
        status = jobs.job_status(job)
        click.echo(f"job {job}: {len(chunk_ids)} chunks resolved again")
        click.echo(_summary_line(status), err=True)
        sys.exit(0 if status.ok else 1)
    _send(chunk_ids)
    click.echo(f"job {job}: {len(chunk_ids)} chunks queued again")


@click.command("worker", context_settings={"ignore_unknown_options": True})
@click.option("--concurrency", "-c", type=int, help="Prefork processes (default: cores).")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker_command(concurrency: int | None, celery_args: tuple[str, ...]) -> None:
    """Start a Celery worker on the chunk queue (extra arguments go to `celery worker`)."""
    from worker.cli.ops import celery_program

    args = [celery_program(), "-A", "tasks", "worker", "-Q", get_settings().queue, "--pool",
            "prefork"]
    if concurrency:
        args += ["--concurrency", str(concurrency)]
    os.execvp(args[0], [*args, *celery_args])


@click.command("beat", context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat_command(celery_args: tuple[str, ...]) -> None:
    """Start Celery beat (run exactly one): reconciler every minute, nightly recoding."""
    schedule = Path(get_settings().data_dir) / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    from worker.cli.ops import celery_program

    program = celery_program()
    os.execvp(program, [program, "-A", "tasks", "beat", "--schedule", str(schedule), *celery_args])


COMMANDS = [submit_command, run_command, jobs_command, status_command, results_command,
            metrics_command, retry_command, worker_command, beat_command]
