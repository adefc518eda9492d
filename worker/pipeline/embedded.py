"""The embedded default: the same job on SQLite, in-process, using the machine's cores.

Stages the file with the producer, ten chunks (DXCODER_RUN_CHUNK_SIZE lines each) per commit,
in a process of its own while this one loads the resolver's index (two processes or more),
and runs the very same chunk code (`process_chunk`) in a pool of processes, one chunk at a time
each, from the first committed batch on. Each worker also renders the output of the results it
committed; this process writes those texts to the results file in input order as the chunks
finish.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import text

from worker import db
from worker.errors import JobError
from worker.pipeline import chunks, producer
from worker.pipeline.export import ResultFormat, result_format, write_atomically
from worker.pipeline.jobs import JobStatus, job_status
from worker.settings import Settings, configure, get_settings

Progress = Callable[[int], None]  # called with the number of lines a finished chunk covered


def _as_child() -> None:
    """Signals in a process this module forks: Ctrl-C is the parent's to handle (it stops the
    children and removes the unfinished job), and SIGTERM must end the process, as the parent's
    Pool.terminate() and _Stager.stop() expect. A handler inherited from the parent (`inbox
    watch` sets one to finish its pass) would leave a pool worker that waits on the task queue
    alive, and the parent waiting for it forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _init_process(settings: Settings) -> None:
    _as_child()
    configure(settings)
    db.reset_after_fork()  # the resolver's index is inherited from the parent (preloaded)


# What a worker renders its results as: (output format, CSV pass-through columns, whether lines
# may carry pass-through values). None: the parent renders from the database.
RenderSpec = tuple[str, tuple[str, ...], bool]

_READ_EXTRA = text("SELECT extra FROM input_line WHERE job_id = :job_id "
                   "AND line_no BETWEEN :first AND :last ORDER BY line_no")


def _run_chunk(chunk_id: int, render: RenderSpec | None = None) -> tuple[int, str | None]:
    """Process a chunk; returns the lines it wrote and, with `render`, those results as output
    text (None when this run did not write the whole chunk: the parent reads it back)."""
    report, written = chunks.process_chunk_results(chunk_id, task_id=f"embedded-{os.getpid()}")
    if render is None or written is None or report.job_id is None:
        return report.lines, None
    return report.lines, _render(render, report.job_id, written)


def _render(spec: RenderSpec, job_id: str, written: Sequence[chunks.ResultTuple]) -> str:
    """The chunk's output text from the results it just committed, each with its line's
    pass-through text (one query), exactly as the export renders them read back."""
    fmt, names, has_extra = spec
    if not written:
        return ""
    if has_extra:
        with db.session_scope() as session:
            extras = db.fetch_tuples(session, _READ_EXTRA, {
                "job_id": job_id, "first": written[0][0], "last": written[-1][0]})
    else:
        extras = [("",)] * len(written)
    rows = [result + extra for result, extra in zip(written, extras, strict=True)]
    return _result_format(fmt, names).render(rows)


@functools.cache
def _result_format(fmt: str, names: tuple[str, ...]) -> ResultFormat:
    return ResultFormat(fmt, names)  # one per process: it caches the pass-through cells


def run_chunks(chunk_ids: Sequence[int], processes: int, progress: Progress | None = None) -> None:
    """Process chunks with `processes` workers (1 = in this process)."""
    with _chunk_runner(processes) as run_chunk:
        pending = [run_chunk(chunk_id, None) for chunk_id in chunk_ids]
        for sent in pending:
            lines, _ = sent.get()
            if progress:
                progress(lines)


def run_file(path: str | os.PathLike[str], out: str | os.PathLike[str] | None, *,
             fmt: str = "csv", processes: int | None = None, name: str | None = None,
             release: str | None = None, read_options: dict[str, Any] | None = None,
             progress: Progress | None = None,
             on_staged: Callable[[producer.Submitted], None] | None = None) -> JobStatus:
    """Stage, resolve and (if `out`) write results; returns the finished job's status.

    The workers start on the first chunks while the file is still being read (staged and
    committed ten chunks at a time), so reading costs little time of its own; with two
    processes or more a process of its own reads it (`_Stager`), beginning while this one loads
    the resolver's index for the workers. The workers also render their chunk's output from
    the results they committed, and this process writes those texts in input order as they
    arrive, to a temporary file renamed to `out` at the end (export.write_atomically).
    Where the output's columns are not known before the file is read (CSV output of JSONL or
    X12 input) it reads the results back instead. `progress` is first called after
    `on_staged`. A run that fails or is interrupted leaves neither an unfinished job nor a
    partial results file that could pass for a whole one.
    """
    staging = producer.BatchStaging(path, name=name, release=release,
                                    chunk_size=get_settings().run_chunk_size, **(read_options or {}))
    processes = processes or os.cpu_count() or 1
    pass_through = staging.source.pass_through
    render: RenderSpec | None = None
    if out is not None and (fmt == "jsonl" or pass_through is not None):
        render = (fmt, tuple(pass_through or ()), pass_through != [])
    unreported = [0]  # lines finished before on_staged: progress starts with their sum

    def finished(lines: int) -> None:
        if staging.submitted is None:
            unreported[0] += lines
        elif progress:
            progress(lines)

    def resolve(fh: IO[str] | None) -> None:
        stager: _Stager | None = None
        try:
            if processes > 1:  # the file is read while the workers' index loads
                stager = _Stager(staging)
            with _chunk_runner(processes) as run_chunk:
                chunks_sent = _InOrder(staging, fh, fmt, render, finished)
                for batch in stager.batches() if stager else staging.batches():
                    for chunk_id, first, last in batch:
                        chunks_sent.add(run_chunk(chunk_id, render), first, last)
                    chunks_sent.drain(wait=False)
                assert staging.submitted is not None
                if on_staged:
                    on_staged(staging.submitted)
                if progress and unreported[0]:
                    progress(unreported[0])
                chunks_sent.finish()
        finally:
            if stager is not None:
                stager.stop()  # before anything is discarded: it writes for the job

    try:
        if out is None:
            resolve(None)
        else:
            write_atomically(Path(out), resolve)
    except BaseException:
        staging.discard_unfinished()  # the pool is gone by now: nothing writes for the job
        raise
    assert staging.submitted is not None
    return job_status(staging.submitted.job_id)


class _Stager:
    """The file staged by a forked process (BatchStaging.batches there), so that it is read
    while this process loads the resolver's index for the workers: seconds in which one core
    would otherwise idle (1M lines: 3 to 5 s of a 30 s run). It sends each committed batch's
    chunks, then the Submitted, or the error that stopped it. The job is created here first,
    so this process knows which job to discard whatever becomes of the other one."""

    def __init__(self, staging: producer.BatchStaging) -> None:
        self.staging = staging
        staging.create_job()
        db.dispose()  # the child opens its own connections; nothing pooled crosses the fork
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_stage_in_child, args=(staging, send),
                                        name="dxcoder-staging", daemon=True)
        self._process.start()
        send.close()  # the child's end: the pool forked next must not hold it open

    def batches(self) -> Iterator[list[producer.ChunkSpan]]:
        while True:
            try:
                kind, value = self._receive.recv()
            except EOFError:
                raise JobError("the process reading the file stopped before the end of the "
                               "file") from None
            if kind == "batch":
                yield value
            elif kind == "done":
                self.staging.submitted = value
                return
            else:
                raise value

    def stop(self) -> None:
        """The process is gone when this returns (stopped if it is still reading)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._receive.close()


def _stage_in_child(staging: producer.BatchStaging, send: Connection) -> None:
    _as_child()
    db.reset_after_fork()
    try:
        for batch in staging.batches():
            send.send(("batch", batch))
        send.send(("done", staging.submitted))
    except Exception as exc:
        send.send(("error", _portable(exc)))
    finally:
        send.close()


def _portable(exc: Exception) -> Exception:
    """The exception itself if it survives pickling (the CLI then says what it always says
    about it), else a JobError naming its type (no message: it could quote the file)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return JobError(f"reading the file failed ({type(exc).__name__})")
    return exc


class _InOrder:
    """The chunks sent to the workers, in line order: each one's output is written once it and
    every chunk before it are done."""

    def __init__(self, staging: producer.BatchStaging, out: IO[str] | None, fmt: str,
                 render: RenderSpec | None, finished: Progress) -> None:
        self.staging, self.out, self.fmt, self.render = staging, out, fmt, render
        self.finished = finished
        self.pending: collections.deque[tuple[Sent, int, int]] = collections.deque()
        self.form: ResultFormat | None = None  # set with the first rows written

    def add(self, sent: Sent, first: int, last: int) -> None:
        self.pending.append((sent, first, last))

    def drain(self, *, wait: bool) -> None:
        """Write what is done at the front (wait=False) or everything (wait=True)."""
        if self.render is None and not wait:
            return  # the output's columns are read from the job once all of it is staged
        while self.pending and (wait or self.pending[0][0].ready()):
            sent, first, last = self.pending.popleft()
            lines, rendered = sent.get()
            self.finished(lines)
            if self.out is not None:
                self._write(rendered, first, last)

    def finish(self) -> None:
        self.drain(wait=True)
        if self.out is not None and self.form is None:  # an empty job: its header alone
            self.out.write(result_format(self._job_id(), self.fmt).header())

    def _write(self, rendered: str | None, first: int, last: int) -> None:
        assert self.out is not None
        if self.form is None:
            # The workers render with the header's pass-through columns, which every line of
            # a CSV carries; otherwise the columns are those the job's lines carry.
            self.form = (_result_format(*self.render[:2]) if self.render is not None
                         else result_format(self._job_id(), self.fmt))
            self.out.write(self.form.header())
        self.out.write(rendered if rendered is not None
                       else self.form.render_span(self._job_id(), first, last))

    def _job_id(self) -> str:
        assert self.staging.job_id is not None
        return self.staging.job_id


class Sent(Protocol):
    """A chunk handed to the runner: AsyncResult's ready() and get()."""

    def ready(self) -> bool: ...

    def get(self) -> tuple[int, str | None]: ...


class _Done:
    """A chunk run in this process: done as soon as it is sent."""

    def __init__(self, value: tuple[int, str | None]) -> None:
        self.value = value

    def ready(self) -> bool:
        return True

    def get(self) -> tuple[int, str | None]:
        return self.value


@contextlib.contextmanager
def _chunk_runner(processes: int) -> Iterator[Callable[[int, RenderSpec | None], Sent]]:
    """A function that starts a chunk and returns how to wait for it: in this process at once
    (processes=1), else in a pool forked now, before this process opens a database connection."""
    if processes <= 1:
        def run_here(chunk_id: int, render: RenderSpec | None) -> Sent:
            return _Done(_run_chunk(chunk_id, render))

        yield run_here
        return
    from worker.pipeline.warmup import preload_resolver

    preload_resolver()
    db.dispose()  # children get their own engine; nothing pooled crosses the fork
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_init_process, initargs=(get_settings(),)) as pool:
        def send(chunk_id: int, render: RenderSpec | None) -> Sent:
            return pool.apply_async(_run_chunk, (chunk_id, render))

        yield send
