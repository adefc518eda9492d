"""`dxcoder edits JOB`: claim-level edits of a job's claims against the tabular's notes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click

from worker.cli.base import ensure_schema, sigterm_interrupts
from worker.pipeline import edits
from worker.pipeline.export import write_atomically


@click.command("edits")
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="File to write (default: standard output).")
@click.option("--output-format", "--format", "fmt", type=click.Choice(["csv", "jsonl"]),
              default="csv", show_default=True)
def edits_command(job_id: str, output: Path | None, fmt: str) -> None:
    """One row per claim edit: claim_id, edit (excludes1, code_first, use_additional,
    duplicate, not_coded), codes, severity (error or warning), and a message citing the note.

    A claim is an X12 CLM, or the lines sharing an id (claim_id) column; its principal is the
    ABK/BK line or the first-listed. Only resolved codes are checked.
    """
    ensure_schema()
    if output is None:
        edits.write_edits(job_id, sys.stdout, fmt)
        return
    count = 0

    def export(fh: IO[str]) -> None:
        nonlocal count
        count = edits.write_edits(job_id, fh, fmt)

    with sigterm_interrupts():
        write_atomically(output, export)
    click.echo(f"{count:,} edits -> {output}", err=True)
