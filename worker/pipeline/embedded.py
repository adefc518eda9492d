"""The embedded default: the same job on SQLite, in-process, using the machine's cores.

Stages the file with the producer, then runs the very same chunk code (`process_chunk`) in a
pool of processes, one chunk at a time each, and writes the results file as chunks finish.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
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
    with chunks_in_order(chunk_ids, processes, progress) as finished:
        for _ in finished:
            pass


@contextlib.contextmanager
def chunks_in_order(chunk_ids: Sequence[int], processes: int, progress: Progress | None = None
                    ) -> Iterator[Iterator[int]]:
    """Start processing chunks with `processes` workers (1 = in this process, as iterated) and
    give an iterator of chunk ids, each once it and every chunk before it are done, so the
    caller can use their results meanwhile. The workers are forked on entry, before the caller
    opens any database connection of its own."""
    if processes <= 1 or len(chunk_ids) <= 1:
        yield _reported(map(_run_chunk, chunk_ids), progress)
        return
    from worker.pipeline.warmup import preload_resolver

    preload_resolver()
    db.dispose()  # children get their own engine; nothing pooled crosses the fork
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_init_process, initargs=(get_settings(),)) as pool:
        yield _reported(pool.imap(_run_chunk, chunk_ids), progress)


def _reported(done: Iterator[tuple[int, int]], progress: Progress | None) -> Iterator[int]:
    for chunk_id, lines in done:
        if progress:
            progress(lines)
        yield chunk_id


def run_file(path: str | os.PathLike[str], out: str | os.PathLike[str] | None, *,
             fmt: str = "csv", processes: int | None = None, name: str | None = None,
             release: str | None = None, read_options: dict[str, Any] | None = None,
             progress: Progress | None = None,
             on_staged: Callable[[producer.Submitted], None] | None = None) -> JobStatus:
    """Stage, resolve and (if `out`) write results; returns the finished job's status.

    The output is written while the job runs: each chunk's lines as soon as it and the chunks
    before it are done. This process has nothing else to do meanwhile, so writing the output
    takes no time of its own on top of resolving.
    """
    submitted = producer.submit(path, enqueue=None, name=name, release=release, force=True,
                                **(read_options or {}))
    if on_staged:
        on_staged(submitted)
    from sqlalchemy import select

    from worker.models import Chunk

    with db.session_scope() as session:
        spans = {row.id: (row.first_line, row.last_line) for row in session.execute(
            select(Chunk.id, Chunk.first_line, Chunk.last_line)
            .where(Chunk.job_id == submitted.job_id).order_by(Chunk.chunk_no))}
    with chunks_in_order(list(spans), processes or os.cpu_count() or 1, progress) as finished:
        if out is None:
            for _ in finished:
                pass
        else:
            with Path(out).open("w", encoding="utf-8", newline="") as fh:
                write_results(submitted.job_id, fh, fmt,
                              (spans[chunk_id] for chunk_id in finished))
    return job_status(submitted.job_id)
