"""One recode chunk: lease it, re-resolve its candidate lines, classify, history first, then results.

Like a job chunk (worker.pipeline.chunks), through the same lease kernel (worker.pipeline.lease):
(1) lease: count the attempt;
(2) read the range's stored lines and keep the candidates (worker.recode.select);
(3) resolve in memory, by date of service; (4) one transaction: mark the chunk done (only one
delivery can), lock and re-read the candidates' results, write result_history rows
(ON CONFLICT DO NOTHING on run+job+line), update the results, add the chunk's counts to the
run. A chunk delivered twice, or twice at once, changes its lines once.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker import db
from worker.contract import NEEDS_REVIEW, NO_MATCH, RESOLVED, Entry, Result
from worker.models import Code, CodeSetRelease, InputLine, RecodeChunk, RecodeRun, ResultHistory, utcnow
from worker.models import Result as ResultRow
from worker.pipeline import edits, lease
from worker.pipeline.jobs import ChunkState
from worker.pipeline.lease import ChunkLease, elapsed_ms
from worker.recode import select as selection
from worker.settings import get_settings

log = logging.getLogger("dxcoder.recode")

OUTCOME = ("status", "code", "description", "method", "alternatives")


@dataclasses.dataclass
class RecodeReport:
    """What one task run did: the `recode.chunk` log record (counts only, never text)."""

    outcome: str  # done | skipped | exhausted
    chunk_id: int
    task_id: str = ""
    run_id: str | None = None
    job_id: str | None = None
    attempt: int = 0
    checked: int = 0
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    total_ms: float = 0.0
    run_finished: bool = False
    edits: dict[str, int] = dataclasses.field(default_factory=dict)  # the run's jobs, summed

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def take_lease(session: Session, chunk_id: int) -> tuple[ChunkLease, bool] | None:
    """Count a delivery and take the lease; returns the lease and whether its run is a dry
    run, or None when the chunk is finished."""
    taken = lease.take_lease(session, lease.RECODE_CHUNKS, chunk_id)
    if taken is None:
        return None
    dry_run = bool(session.scalar(select(RecodeRun.dry_run)
                                  .where(RecodeRun.id == taken.parent_id)))
    return taken, dry_run


def read_candidates(session: Session, c: ChunkLease) -> list[Entry]:
    """The range's stored lines that must be re-checked, as entries to resolve."""
    changes = selection.read_changes(session)
    # The planner's SQL prefilter again: a range may span many lines that are no candidates.
    query = selection.prefilter(
        select(*selection.LINE_COLUMNS, InputLine.entry_id, InputLine.system)
        .join(InputLine, and_(InputLine.job_id == ResultRow.job_id,
                              InputLine.line_no == ResultRow.line_no))
        .where(ResultRow.job_id == c.job_id,
               ResultRow.line_no.between(c.first_line, c.last_line)), changes
    ).order_by(ResultRow.line_no)
    entries = []
    for _job, line_no, status, code_set, dos, term, resolved_at, entry_id, system in \
            session.execute(query):
        if changes.reason(status, code_set, dos, term, resolved_at) is not None:
            entries.append(Entry(line_no=line_no, term=term, id=entry_id, system=system,
                                 date_of_service=dos))
    return entries


def resolve(entries: Sequence[Entry]) -> list[Result]:
    """Re-resolve by date of service: recoding follows the release in force, even for lines
    a job pinned to an older release (the pin chose the release of that day's submission)."""
    from worker.resolver import get_resolver

    return get_resolver().resolve(entries, release=None) if entries else []


def code_fates(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    """(release label, code) -> billable, for the pairs that exist (one query per release)."""
    by_release: dict[str, set[str]] = collections.defaultdict(set)
    for label, code in pairs:
        by_release[label].add(code)
    found: dict[tuple[str, str], bool] = {}
    for label, codes in by_release.items():
        rows = session.execute(
            select(Code.code, Code.billable).join(CodeSetRelease,
                                                  CodeSetRelease.id == Code.release_id)
            .where(CodeSetRelease.label == label, Code.code.in_(sorted(codes))))
        found.update({(label, code): bool(billable) for code, billable in rows})
    return found


def classify(old: Any, new: Result, fate: bool | None) -> str:
    """The change class of one re-checked line (`fate`: is the old code billable in the new
    release, None if it is gone).

    newly_resolved: a needs_review / no_match line now resolves (override, synonym, release);
    deleted: its code is no code of the release in force (successors proposed);
    expanded: its resolved code is a header there (children proposed);
    retitled: same code and status, new title;
    recoded: any other change of outcome (an override replacing a code, a better match);
    unchanged: same status, code, title, method and alternatives.
    """
    if all(getattr(old, name) == getattr(new, name) for name in OUTCOME):
        return "unchanged"
    if old.status in (NEEDS_REVIEW, NO_MATCH) and new.status == RESOLVED:
        return "newly_resolved"
    if old.code and new.code_set and old.code_set != new.code_set:
        if fate is None:
            return "deleted"
        if old.status == RESOLVED and fate is False:
            return "expanded"
    if (old.code == new.code and old.status == new.status and old.description != new.description):
        return "retitled"
    return "recoded"


def _insert_history(session: Session, rows: list[dict[str, Any]]) -> None:
    dialect = postgresql if db.is_postgres(session) else sqlite
    statement = dialect.insert(ResultHistory).on_conflict_do_nothing(
        index_elements=["run_id", "job_id", "line_no"])
    session.execute(statement, rows)


def write(session: Session, c: ChunkLease, results: Sequence[Result], *, dry_run: bool
          ) -> tuple[dict[str, int], bool]:
    """History first, then the results, in the caller's transaction. Returns (counts, whether
    this delivery finished the chunk); a chunk already finished changes nothing."""
    if not lease.mark_finished(session, c, ChunkState.DONE):
        return {}, False
    now = utcnow()
    by_line = {r.line_no: r for r in results}
    query = (select(ResultRow).where(ResultRow.job_id == c.job_id,
                                     ResultRow.line_no.in_(sorted(by_line)))
             .order_by(ResultRow.line_no))
    if db.is_postgres(session):
        query = query.with_for_update()
    olds = list(session.scalars(query)) if by_line else []
    fates = code_fates(session, {(by_line[o.line_no].code_set, o.code) for o in olds
                                 if o.code and by_line[o.line_no].code_set})
    counts: collections.Counter[str] = collections.Counter()
    history, updates, touched = [], [], []
    for old in olds:
        new = by_line[old.line_no]
        change = classify(old, new, fates.get((new.code_set, old.code)))
        counts[change] += 1
        if change == "unchanged":
            # Same outcome, now checked against the release in force: re-stamp it so the
            # next run does not re-check it again (no outcome changes, so no history row).
            touched.append({"job_id": c.job_id, "line_no": old.line_no,
                            "code_set": new.code_set or old.code_set, "resolved_at": now})
            continue
        history.append({
            "run_id": c.parent_id, "job_id": c.job_id, "line_no": old.line_no, "change": change,
            "old_status": old.status, "old_code": old.code, "old_description": old.description,
            "old_method": old.method, "old_code_set": old.code_set, "new_status": new.status,
            "new_code": new.code, "new_description": new.description, "new_method": new.method,
            "new_code_set": new.code_set, "new_alternatives": new.alternatives,
            "changed_at": now})
        updates.append({"job_id": c.job_id, "line_no": old.line_no, "status": new.status,
                        "code": new.code, "description": new.description,
                        "method": new.method, "confidence": float(new.confidence),
                        "code_set": new.code_set, "alternatives": new.alternatives,
                        "message": new.message, "resolved_at": now})
    if history:
        # A dry run keeps its history rows too, as the preview `recode report` shows; only the
        # results are left alone.
        _insert_history(session, history)
    if not dry_run:
        if updates:
            session.execute(update(ResultRow), updates)
        if touched:
            session.execute(update(ResultRow), touched)
    summary = dict(sorted(counts.items()))
    session.execute(update(RecodeChunk).where(RecodeChunk.id == c.chunk_id)
                    .values(counts=summary))
    return summary, True


def process_chunk(chunk_id: int, *, task_id: str = "") -> RecodeReport:
    """Re-check one recode chunk end to end. Transient database errors propagate (retry)."""
    started = time.perf_counter()
    settings = get_settings()
    report = RecodeReport(outcome="skipped", chunk_id=chunk_id, task_id=task_id)
    entries: list[Entry] = []
    with db.session_scope() as session:
        taken = take_lease(session, chunk_id)
        if taken is not None and taken[0].attempts <= settings.max_attempts:
            entries = read_candidates(session, taken[0])
    if taken is None:
        report.total_ms = elapsed_ms(started)
        log.info("recode.chunk_skipped", extra=report.record())
        return report
    c, dry_run = taken
    report.run_id, report.job_id, report.attempt = c.parent_id, c.job_id, c.attempts
    if c.attempts > settings.max_attempts:
        return give_up(c, report, started)
    results = resolve(entries)
    with db.session_scope() as session:
        counts, finished = write(session, c, results, dry_run=dry_run)
        if finished:
            report.outcome, report.counts = "done", counts
            report.checked = sum(counts.values())
            report.run_finished = lease.count_on_parent(session, c)
    if report.run_finished and not dry_run and settings.claim_edits:
        try:
            report.edits = recheck_claims(c.parent_id)
        except Exception as exc:  # advisory: the run's changes stand; `dxcoder edits` re-checks
            log.error("recode.edits_failed", extra={"run_id": c.parent_id,
                                                    "error": type(exc).__name__})
    report.total_ms = elapsed_ms(started)
    log.info("recode.chunk", extra=report.record())
    return report


def recheck_claims(run_id: str) -> dict[str, int]:
    """Codes changed under the jobs' claims: the task that finished the run re-runs the claim
    edits of every job it touched (kept in each job's summary) and counts them."""
    with db.session_scope() as session:
        job_ids = sorted(set(session.scalars(select(RecodeChunk.job_id).where(
            RecodeChunk.run_id == run_id))))
    total: collections.Counter[str] = collections.Counter()
    for job_id in job_ids:
        total.update(edits.record_job_edits(job_id))
    return dict(total)


def give_up(c: ChunkLease, report: RecodeReport, started: float) -> RecodeReport:
    """A chunk that failed every delivery: its lines stay as they were; the run says failed."""
    with db.session_scope() as session:
        given_up = lease.give_up(session, c, "")
        if given_up is not None:
            report.outcome = "exhausted"
            report.run_finished = given_up[1]
    report.total_ms = elapsed_ms(started)
    log.error("recode.chunk_exhausted", extra=report.record())
    return report


def run_inline(chunk_ids: Sequence[int]) -> None:
    """Embedded mode (no servers): the same chunk code, in this process, one after another."""
    for chunk_id in chunk_ids:
        process_chunk(chunk_id)
