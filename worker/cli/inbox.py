"""`dxcoder inbox watch|list`: a watched drop-off directory for claims systems that write files."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from worker import db
from worker.cli.base import ensure_schema
from worker.inbox import Inbox, PollReport
from worker.models import InboxFile
from worker.settings import get_settings


def _send(chunk_ids: Sequence[int], priority: int) -> None:
    from tasks.broker import send_job_chunks

    send_job_chunks(chunk_ids, priority)


def open_inbox(directory: Path, settle: float | None = None) -> Inbox:
    """The inbox with chunks sent to the workers, or run here in the embedded mode (no servers)."""
    settings = get_settings()
    settle_seconds = settings.inbox_settle_seconds if settle is None else settle
    if settings.is_embedded:
        return Inbox(directory, send=None, settle_seconds=settle_seconds, run_inline=True,
                     processes=os.cpu_count() or 1)
    return Inbox(directory, send=_send, settle_seconds=settle_seconds)


def _echo_report(report: PollReport, announced: set[str] | None = None) -> None:
    """What the pass did; `announced`: skipped files already reported (a watch says each once)."""
    for name, job_id in report.submitted:
        click.echo(f"submitted {name} as job {job_id}")
    for name, outbox in report.completed:
        click.echo(f"{name}: results -> {outbox}")
    for name in report.archived:
        click.echo(f"{name}: archived")
    for name, reason in report.rejected:
        click.echo(f"{name}: rejected: {reason}", err=True)
    for name, error in report.failed:
        click.echo(f"{name}: will retry ({error})", err=True)
    for name, why in report.skipped:
        if announced is None or name not in announced:
            click.echo(f"{name}: skipped: {why}", err=True)
    if announced is not None:
        announced.clear()
        announced.update(name for name, _ in report.skipped)


@click.group("inbox")
def inbox_group() -> None:
    """A watched directory: drop files in it, collect results from its outbox/."""


@inbox_group.command("watch")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--once", is_flag=True, help="One pass, then exit (for cron or a test).")
@click.option("--interval", type=click.FloatRange(0.1), help="Seconds between passes "
              "(default: DXCODER_INBOX_POLL_INTERVAL).")
@click.option("--settle", type=click.FloatRange(0), help="Seconds a file must stay unchanged "
              "(default: DXCODER_INBOX_SETTLE_SECONDS).")
def watch_command(directory: Path, once: bool, interval: float | None, settle: float | None
                  ) -> None:
    """Submit each file dropped in DIRECTORY once; results go to outbox/NAME.results.csv, the
    source to archive/, a refused file to rejected/ beside NAME.error.txt.

    A file is taken once unchanged for --settle seconds. Uploads under a temporary name
    (NAME.part, .partial, .filepart, .tmp, .temp, .crdownload, or a name starting with '.' or
    '~') are left alone until renamed; with DXCODER_INBOX_REQUIRE_MARKER a file waits for its
    NAME.done or NAME.ok marker instead. A file changed after it was read is not archived: it
    is read again once unchanged. Files left waiting are listed with the reason (a watch says
    each once). Stop with Ctrl-C or SIGTERM: a pass cut off is finished by the next one.
    """
    ensure_schema()
    inbox = open_inbox(directory, settle)
    wait = get_settings().inbox_poll_interval if interval is None else interval
    stopping = False
    announced: set[str] = set()

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            _echo_report(inbox.poll(), None if once else announced)
            if once or stopping:
                return
            deadline = time.monotonic() + wait
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, wait))
            if stopping:
                return
    except KeyboardInterrupt:
        click.echo("dxcoder: inbox watch stopped; the next run finishes any file in progress",
                   err=True)


@inbox_group.command("list")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
def list_command(directory: Path) -> None:
    """Every file the inbox has taken: state, job, name (and why, when refused)."""
    ensure_schema()
    root = str(Path(os.path.realpath(directory)))
    with db.session_scope() as session:
        for row in session.scalars(select(InboxFile).where(InboxFile.inbox == root)
                                   .order_by(InboxFile.id)):
            why = f"  ({row.error})" if row.error else ""
            click.echo(f"{row.state:<9} {row.job_id or '-':<32}  {row.name}{why}")


COMMANDS = [inbox_group]
