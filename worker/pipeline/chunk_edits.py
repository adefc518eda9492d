"""Claim edits where the results are made: each chunk checks the claims wholly inside it, and
the task that finishes the job checks only the claims that cross a chunk boundary.

A claims file keeps a claim's lines together (an X12 CLM and its HI segments; an extract
sorted by claim), so all of a chunk's claims but its first and last are whole. With its
results, in the same transaction, a chunk keeps (`chunk.claim_edits`): the edit counts of its
inner claims, the keys of its first and last claims and where they end and start, its number
of runs (a run: consecutive lines of one claim) and a digest of each claim key it saw. When
the job finishes the inner counts add up to the job's exactly when every claim is one run,
which the digests prove: runs, less the runs that continue across a boundary, equal the
distinct keys. Then only the chunks' first and last claims are read again and checked.
Otherwise (a claim's lines scattered over the file, a chunk given up, a chunk written before
this existed) the whole job is checked, as `dxcoder edits` does.

Claims are keyed as `iter_claim_lines` keys them: X12 by CLM01, a `claim_id` column by its
value, otherwise by the line id; a line with no key is a claim of its own.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select, text

from worker import contract, db
from worker.memo import remember
from worker.models import Chunk, CodeSetRelease, Job
from worker.pipeline import edits
from worker.pipeline.claims import ClaimLine, claim_cells

log = logging.getLogger(__name__)

_VERSION = 1
_STATUS = contract.RESULT_FIELDS.index("status")
_CODE = contract.RESULT_FIELDS.index("code")
_CODE_SET = contract.RESULT_FIELDS.index("code_set")

_READ_EXTRA = text(
    "SELECT line_no, extra FROM input_line WHERE job_id = :job_id "
    "AND line_no BETWEEN :first AND :last AND extra <> '' ORDER BY line_no")
_FIRST_EXTRA = text(
    "SELECT extra FROM input_line WHERE job_id = :job_id ORDER BY line_no LIMIT 1")
_READ_RANGE = text(
    "SELECT r.line_no, r.entry_id, r.status, r.code, r.code_set, i.extra FROM result r "
    "JOIN input_line i ON i.job_id = r.job_id AND i.line_no = r.line_no "
    "WHERE r.job_id = :job_id AND r.line_no BETWEEN :first AND :last ORDER BY r.line_no")

X12, CLAIM_COLUMN, LINE_ID = "x12", "claim_column", "line_id"

# Per process: job id -> how its claims are keyed; the checker, with the releases it read.
_modes: dict[str, str] = {}
_checker: tuple[tuple[Any, ...], edits.ClaimChecker] | None = None


def _digest(key: str) -> int:
    # Stable across processes (hash() is not); a collision can only make two claims look like
    # one scattered claim, which sends the job to the whole check: slower, never wrong.
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=7).digest(), "big")


def _mode(session: Any, job_id: str) -> str:
    mode = _modes.get(job_id)
    if mode is None:
        fmt = session.scalar(select(Job.format).where(Job.id == job_id))
        first = session.execute(_FIRST_EXTRA, {"job_id": job_id}).scalar() or ""
        mode = X12 if fmt == "x12" else CLAIM_COLUMN if '"claim_id"' in first else LINE_ID
        remember(_modes, job_id, mode, 256)
    return mode


def checker() -> edits.ClaimChecker:
    """This process's checker, loaded again when a release is loaded, replaced or removed."""
    global _checker
    with db.session_scope() as session:
        stamp = tuple(session.execute(select(CodeSetRelease.id, CodeSetRelease.label,
                                             CodeSetRelease.checksum)
                                      .order_by(CodeSetRelease.id)).all())
        if _checker is None or _checker[0] != stamp:
            _checker = (stamp, edits.ClaimChecker(edits.load_notebooks(session)))
    return _checker[1]


def _key(mode: str, line_no: int, entry_id: str, extra: dict[str, Any]) -> tuple[str, str]:
    """(grouping key, claim id shown) of a line, as iter_claim_lines groups them."""
    if mode == X12:
        claim = str(extra.get("claim_id", entry_id.rsplit(":", 1)[0]))
        return claim, claim
    if mode == CLAIM_COLUMN:
        claim = str(extra.get("claim_id") or "")
        return (claim, claim) if claim else (f" #{line_no}", "")
    return (entry_id, entry_id) if entry_id else (f" #{line_no}", "")


def _runs(mode: str, rows: Iterator[tuple[int, str, str, str, str, dict[str, Any]]]
          ) -> Iterator[tuple[str, str, list[ClaimLine]]]:
    """(key, claim id, lines) per run of consecutive lines of one claim."""
    current: tuple[str, str] | None = None
    group: list[ClaimLine] = []
    key, line = _key, ClaimLine
    for line_no, entry_id, status, code, code_set, extra in rows:
        this = key(mode, line_no, entry_id, extra) if extra or mode != CLAIM_COLUMN \
            else (f" #{line_no}", "")
        if this != current:
            if current is not None:
                yield current[0], current[1], group
            group = []
            current = this
        group.append(line(line_no, status, code or "", code_set or "",
                          bool(extra) and extra.get("principal") == "Y"))
    if current is not None:
        yield current[0], current[1], group


def check_chunk(job_id: str, first_line: int, last_line: int, lines: Sequence[Any],
                results: Sequence[tuple[Any, ...]]) -> dict[str, Any] | None:
    """What `chunk.claim_edits` keeps for a chunk whose results are `results` (line order);
    None when its claims are left to the whole-job check. Never raises: the edits are
    advisory, and a chunk's results must not wait on them."""
    try:
        with db.session_scope() as session:
            mode = _mode(session, job_id)
            extras = dict(db.fetch_tuples(session, _READ_EXTRA, {
                "job_id": job_id, "first": first_line, "last": last_line}))
        decoded = {line_no: claim_cells(value) for line_no, value in extras.items()}
        if mode == LINE_ID and any("claim_id" in extra for extra in decoded.values()):
            return None  # a JSONL file naming claims on some lines only: checked whole
        none: dict[str, Any] = {}
        rows = ((line.line_no, line.entry_id, r[_STATUS], r[_CODE], r[_CODE_SET],
                 decoded.get(line.line_no, none)) for line, r in zip(lines, results, strict=True))
        runs = list(_runs(mode, rows))
        if not runs:
            return None
        count = checker().count
        counts: collections.Counter[str] = collections.Counter()
        for _, _, group in runs[1:-1]:
            count(group, counts)
        return {"v": _VERSION, "counts": dict(counts), "runs": len(runs),
                "keys": sorted({_digest(key) for key, _, _ in runs}),
                "head": _digest(runs[0][0]), "head_end": runs[0][2][-1].line_no,
                "tail": _digest(runs[-1][0]), "tail_start": runs[-1][2][0].line_no}
    except Exception as exc:  # noqa: BLE001 - advisory: the whole-job check runs instead
        log.warning("chunk.edits_skipped", extra={"job_id": job_id, "first_line": first_line,
                                                  "error": type(exc).__name__})
        return None


def finish_job(job_id: str) -> dict[str, int]:
    """The job's claim edits, counted once it is done: from its chunks' inner claims and its
    boundary claims when every chunk checked its own and the claims are contiguous, else from
    the whole job. Kept in the job's summary (`edits`), logged with ids and counts only."""
    started = time.perf_counter()
    with db.session_scope() as session:
        chunks = session.execute(select(Chunk.first_line, Chunk.last_line, Chunk.claim_edits)
                                 .where(Chunk.job_id == job_id).order_by(Chunk.chunk_no)).all()
    ranges = _boundary_ranges(chunks)
    if ranges is None:
        return edits.record_job_edits(job_id)
    counts: collections.Counter[str] = collections.Counter()
    for chunk in chunks:
        counts.update(chunk.claim_edits["counts"])
    count = checker().count
    with db.session_scope() as session:
        mode = _mode(session, job_id)
        for first, last in ranges:
            rows = ((line_no, entry_id, status, code, code_set, claim_cells(extra))
                    for line_no, entry_id, status, code, code_set, extra in db.fetch_tuples(
                        session, _READ_RANGE, {"job_id": job_id, "first": first, "last": last}))
            for _, _, group in _runs(mode, rows):
                count(group, counts)
        found = dict(counts)
        job = session.get(Job, job_id)
        if job is not None:
            job.summary = {**(job.summary or {}), "edits": found}
    log.info("job.edits", extra={"job_id": job_id, "edits": found, "boundary_ranges": len(ranges),
                                 "seconds": round(time.perf_counter() - started, 3)})
    return found


def _boundary_ranges(chunks: Sequence[Any]) -> list[tuple[int, int]] | None:
    """The line ranges holding each chunk's first and last claims, merged where they touch;
    None when the chunks' own checks cannot be summed (see the module docstring)."""
    if not chunks or any(not c.claim_edits or c.claim_edits.get("v") != _VERSION
                         for c in chunks):
        return None
    runs, keys = 0, set()
    previous = None
    for c in chunks:
        found = c.claim_edits
        runs += found["runs"]
        keys.update(found["keys"])
        if previous is not None and previous.last_line + 1 == c.first_line \
                and previous.claim_edits["tail"] == found["head"]:
            runs -= 1  # one claim across the boundary
        previous = c
    if runs != len(keys):
        return None  # some claim's lines are not together: its parts were counted apart
    ranges: list[tuple[int, int]] = []
    for c in chunks:
        for first, last in ((c.first_line, c.claim_edits["head_end"]),
                            (c.claim_edits["tail_start"], c.last_line)):
            if ranges and first <= ranges[-1][1] + 1:
                ranges[-1] = (ranges[-1][0], max(ranges[-1][1], last))
            else:
                ranges.append((first, last))
    return ranges

