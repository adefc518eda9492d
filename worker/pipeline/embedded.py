"""The embedded default: the same job on SQLite, in-process, using the machine's cores.

Stages the file with the producer, ten chunks per commit, and runs the very same chunk code
(`process_chunk`) in a pool of processes, one chunk at a time each, from the first committed
batch on; then writes the results file in input order as the chunks finish.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from worker import db
from worker.inbox.files import write_atomically
from worker.pipeline import chunks, producer
from worker.pipeline.jobs import JobStatus, job_status
from worker.pipeline.results import write_results
from worker.settings import Settings, configure, get_settings

T = TypeVar("T")
Progress = Callable[[int], None]  # called with the number of lines a finished chunk covered


def _init_process(settings: Settings) -> None:
    # Ctrl-C is the parent's to handle: it stops the pool and removes the unfinished job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure(settings)
    db.reset_after_fork()  # the resolver's index is inherited from the parent (preloaded)


def _run_chunk(chunk_id: int) -> tuple[int, int]:
    report = chunks.process_chunk(chunk_id, task_id=f"embedded-{os.getpid()}")
    return chunk_id, report.lines


def run_chunks(chunk_ids: Sequence[int], processes: int, progress: Progress | None = None) -> None:
    """Process chunks with `processes` workers (1 = in this process)."""
    with _chunk_runner(processes) as run_chunk:
        pending = [(run_chunk(chunk_id), chunk_id) for chunk_id in chunk_ids]
        for _ in _in_order(pending, progress):
            pass


def run_file(path: str | os.PathLike[str], out: str | os.PathLike[str] | None, *,
             fmt: str = "csv", processes: int | None = None, name: str | None = None,
             release: str | None = None, read_options: dict[str, Any] | None = None,
             progress: Progress | None = None,
             on_staged: Callable[[producer.Submitted], None] | None = None) -> JobStatus:
    """Stage, resolve and (if `out`) write results; returns the finished job's status.

    The workers start on the first chunks while this process is still reading the file
    (staged and committed ten chunks at a time), so reading costs little time of its own. Once
    the file is staged, the output is written as the chunks finish, in input order, to a
    temporary file renamed to `out` at the end (the inbox's write_atomically). A run that
    fails or is interrupted leaves neither an unfinished job nor a partial results file that
    could pass for a whole one.
    """
    staging = producer.BatchStaging(path, name=name, release=release, **(read_options or {}))
    processes = processes or os.cpu_count() or 1

    def resolve(fh: IO[str] | None) -> None:
        with _chunk_runner(processes) as run_chunk:
            pending = [(run_chunk(chunk_id), (first, last))
                       for chunk_id, first, last in staging.spans()]
            assert staging.submitted is not None
            if on_staged:
                on_staged(staging.submitted)
            finished = _in_order(pending, progress)
            if fh is None:
                for _ in finished:
                    pass
            else:
                write_results(staging.submitted.job_id, fh, fmt, finished)

    def write(temp: Path) -> None:
        with temp.open("w", encoding="utf-8", newline="") as fh:
            resolve(fh)

    try:
        if out is None:
            resolve(None)
        else:
            write_atomically(Path(out), write)
    except BaseException:
        staging.discard_unfinished()  # the pool is gone by now: nothing writes for the job
        raise
    assert staging.submitted is not None
    return job_status(staging.submitted.job_id)


ChunkRun = Callable[[], int]  # waits for a chunk sent to the workers; returns its line count


@contextlib.contextmanager
def _chunk_runner(processes: int) -> Iterator[Callable[[int], ChunkRun]]:
    """A function that starts a chunk and returns how to wait for it: in this process at once
    (processes=1), else in a pool forked now, before this process opens a database connection."""
    if processes <= 1:
        def run_here(chunk_id: int) -> ChunkRun:
            lines = _run_chunk(chunk_id)[1]
            return lambda: lines

        yield run_here
        return
    from worker.pipeline.warmup import preload_resolver

    preload_resolver()
    db.dispose()  # children get their own engine; nothing pooled crosses the fork
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_init_process, initargs=(get_settings(),)) as pool:
        def send(chunk_id: int) -> ChunkRun:
            result = pool.apply_async(_run_chunk, (chunk_id,))
            return lambda: result.get()[1]

        yield send


def _in_order(pending: Sequence[tuple[ChunkRun, T]], progress: Progress | None) -> Iterator[T]:
    """Each chunk's tag (its line span, its id) once it and every chunk before it are done."""
    for wait, span in pending:
        lines = wait()
        if progress:
            progress(lines)
        yield span
