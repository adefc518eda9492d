"""The embedded default: the same job on SQLite, in-process, using the machine's cores.

Stages the file with the producer, then runs the very same chunk code (`process_chunk`) in a
pool of processes, one chunk at a time each, and writes the results file.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker import db
from worker.pipeline import chunks, producer
from worker.pipeline.jobs import JobStatus, job_status
from worker.pipeline.results import write_results
from worker.settings import Settings, configure, get_settings

Progress = Callable[[int], None]  # called with the number of lines a finished chunk covered


def _init_process(settings: Settings) -> None:
    configure(settings)
    db.reset_after_fork()  # the resolver's index is inherited from the parent (preloaded)


def _run_chunk(chunk_id: int) -> tuple[int, int]:
    report = chunks.process_chunk(chunk_id, task_id=f"embedded-{os.getpid()}")
    return chunk_id, report.lines


def run_chunks(chunk_ids: Sequence[int], processes: int, progress: Progress | None = None) -> None:
    """Process chunks with `processes` workers (1 = in this process)."""
    if processes <= 1 or len(chunk_ids) <= 1:
        for chunk_id in chunk_ids:
            _, lines = _run_chunk(chunk_id)
            if progress:
                progress(lines)
        return
    from worker.pipeline.warmup import preload_resolver

    preload_resolver()
    db.dispose()  # children get their own engine; nothing pooled crosses the fork
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_init_process, initargs=(get_settings(),)) as pool:
        for _, lines in pool.imap_unordered(_run_chunk, chunk_ids):
            if progress:
                progress(lines)


def run_file(path: str | os.PathLike[str], out: str | os.PathLike[str] | None, *,
             fmt: str = "csv", processes: int | None = None, name: str | None = None,
             release: str | None = None, read_options: dict[str, Any] | None = None,
             progress: Progress | None = None,
             on_staged: Callable[[producer.Submitted], None] | None = None) -> JobStatus:
    """Stage, resolve and (if `out`) write results; returns the finished job's status."""
    submitted = producer.submit(path, enqueue=None, name=name, release=release, force=True,
                                **(read_options or {}))
    if on_staged:
        on_staged(submitted)
    from sqlalchemy import select

    from worker.models import Chunk

    with db.session_scope() as session:
        ids = list(session.scalars(select(Chunk.id).where(Chunk.job_id == submitted.job_id)
                                   .order_by(Chunk.chunk_no)))
    run_chunks(ids, processes or os.cpu_count() or 1, progress)
    if out is not None:
        with Path(out).open("w", encoding="utf-8", newline="") as fh:
            write_results(submitted.job_id, fh, fmt)
    return job_status(submitted.job_id)
