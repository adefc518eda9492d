"""Apply checked decisions to a job: every line of each entry, history first, one transaction.

On PostgreSQL all of an import's lines change in one statement: the old results go to
result_history and the new ones replace them in the same data-modifying WITH, fed by arrays
(no statement per line or per decision). SQLite, the embedded single-user mode, takes the same
rows as two executemany calls. Each import is a recode_run of trigger `review`, so its history
rows have a run to belong to and `dxcoder recode report RUN` shows what it changed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from worker import db
from worker.contract import NO_MATCH, RESOLVED, REVIEW
from worker.models import InboxFile, Job, Override, RecodeRun, ResultHistory, ReviewDecision, utcnow
from worker.models import Result as ResultRow
from worker.review.decide import Decision, Plan
from worker.settings import get_settings

log = logging.getLogger("dxcoder.review")

JOB, GLOBAL = "job", "global"
APPLIED, APPROVED, PENDING, SUPERSEDED = "applied", "approved", "pending", "superseded"
CHANGE = "reviewed"  # result_history.change of a reviewed line


@dataclasses.dataclass
class Applied:
    """What an import did (counts and ids only: this is what is logged)."""

    run_id: str
    job_id: str
    decisions: int = 0
    lines: int = 0
    approved: int = 0  # global mappings now in effect
    pending: int = 0  # global decisions waiting for a second reviewer
    outbox: list[str] = dataclasses.field(default_factory=list)


def _variants(decisions: Sequence[Decision], reviewer: str, now: dt.datetime
              ) -> tuple[list[tuple[str, str, str, str, str]], list[int], list[int]]:
    """The distinct new outcomes (status, code, description, code_set, message) and, per line,
    its number and the index of its outcome: an entry's lines share one per release."""
    variants: list[tuple[str, str, str, str, str]] = []
    at: dict[tuple[int, str], int] = {}
    line_nos: list[int] = []
    picks: list[int] = []
    stamp = f"reviewed by {reviewer} at {now:%Y-%m-%d %H:%M} UTC"
    for n, d in enumerate(decisions):
        message = f"{stamp}: {d.note}" if d.note else stamp
        for line in d.lines:
            label = line.code_set or next(iter(d.titles))
            key = (n, label)
            index = at.get(key)
            if index is None:
                index = at[key] = len(variants)
                if d.codes:
                    variants.append((RESOLVED, "+".join(d.codes), d.titles.get(label, ""), label,
                                     message))
                else:
                    variants.append((NO_MATCH, "", "", label, f"{message}; nothing to code"))
            line_nos.append(line.line_no)
            picks.append(index)
    return variants, line_nos, picks


# One statement on PostgreSQL: the lines (number, index of their outcome) and the outcomes
# arrive as arrays; `old` reads the current results (every sub-statement sees the same
# snapshot, so the history gets the results as they were), history is written, results
# replaced. No FOR UPDATE in `old`: the UPDATE locks the rows, and a row the same statement
# updates would be skipped by the lock, leaving its history out. Filtered on the job id
# throughout, which also keeps it to one job's partition.
_PG_APPLY = text("""
WITH lines AS (
    SELECT * FROM unnest(CAST(:line_nos AS integer[]), CAST(:picks AS integer[]))
        AS l(line_no, pick)
), outcomes AS (
    SELECT * FROM unnest(CAST(:statuses AS text[]), CAST(:codes AS text[]),
                         CAST(:descriptions AS text[]), CAST(:code_sets AS text[]),
                         CAST(:messages AS text[])) WITH ORDINALITY
        AS o(status, code, description, code_set, message, pick)
), new AS (
    SELECT lines.line_no, o.status, o.code, o.description, o.code_set, o.message
    FROM lines JOIN outcomes o ON o.pick = lines.pick + 1
), old AS (
    SELECT r.line_no, r.status, r.code, r.description, r.method, r.code_set
    FROM result r JOIN new ON new.line_no = r.line_no
    WHERE r.job_id = :job_id
), history AS (
    INSERT INTO result_history (run_id, job_id, line_no, change, old_status, old_code,
        old_description, old_method, old_code_set, new_status, new_code, new_description,
        new_method, new_code_set, new_alternatives, changed_at)
    SELECT :run_id, :job_id, old.line_no, :change, old.status, old.code, old.description,
        old.method, old.code_set, new.status, new.code, new.description, :method,
        new.code_set, '', :now
    FROM old JOIN new ON new.line_no = old.line_no
    ON CONFLICT DO NOTHING
)
UPDATE result SET status = new.status, code = new.code, description = new.description,
    method = :method, confidence = 1.0, code_set = new.code_set, alternatives = '',
    message = new.message, resolved_at = :now
FROM new
WHERE result.job_id = :job_id AND result.line_no = new.line_no
""")


def apply_plan(session: Session, plan: Plan, reviewer: str, scope: str, *,
               dos_from: dt.date | None = None, dos_to: dt.date | None = None,
               source: str = "") -> Applied:
    """Apply the plan's decisions in the caller's transaction; global scope also approves
    them as overrides (or leaves them pending, with consensus on)."""
    now = utcnow()
    run_id = uuid.uuid4().hex
    applied = Applied(run_id, plan.job_id, decisions=len(plan.decisions))
    session.add(RecodeRun(id=run_id, trigger="review", dry_run=False, status="done",
                          scope={"job": plan.job_id, "reviewer": reviewer, "review_scope": scope,
                                 "file": source},
                          started_at=now, finished_at=now))
    session.flush()
    variants, line_nos, picks = _variants(plan.decisions, reviewer, now)
    applied.lines = len(line_nos)
    if line_nos and db.is_postgres(session):
        columns = list(zip(*variants, strict=True))
        # For this transaction only: JIT compiling the statement cost a second of 11 at 100,000
        # lines (EXPLAIN ANALYZE), and the joins of 100,000 rows spilled to disk at 4 MB.
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        session.execute(_PG_APPLY, {
            "line_nos": line_nos, "picks": picks, "statuses": list(columns[0]),
            "codes": list(columns[1]), "descriptions": list(columns[2]),
            "code_sets": list(columns[3]), "messages": list(columns[4]),
            "job_id": plan.job_id, "run_id": run_id, "change": CHANGE, "method": REVIEW,
            "now": now})
    elif line_nos:
        _apply_sqlite(session, plan, run_id, variants, line_nos, picks, now)
    states = []
    for d in plan.decisions:
        state = APPLIED
        if scope == GLOBAL:
            state = _approve(session, d, reviewer, plan.job_id, now, dos_from, dos_to)
            applied.approved += state == APPROVED
            applied.pending += state == PENDING
        states.append(state)
    if plan.decisions:
        session.execute(insert(ReviewDecision), [
            {"job_id": plan.job_id, "entry_key": d.key, "entry": d.entry, "decision": d.decision,
             "reviewer": reviewer, "note": d.note, "scope": scope, "state": state,
             "lines": len(d.lines), "dos_from": dos_from, "dos_to": dos_to, "decided_at": now}
            for d, state in zip(plan.decisions, states, strict=True)])
    session.execute(update(RecodeRun).where(RecodeRun.id == run_id)
                    .values(counts={CHANGE: applied.lines}))
    recount(session, plan.job_id)
    return applied


def _apply_sqlite(session: Session, plan: Plan, run_id: str,
                  variants: list[tuple[str, str, str, str, str]], line_nos: list[int],
                  picks: list[int], now: dt.datetime) -> None:
    old = {line.line_no: line for d in plan.decisions for line in d.lines}
    history, updates = [], []
    for line_no, pick in zip(line_nos, picks, strict=True):
        status, code, description, code_set, message = variants[pick]
        was = old[line_no]
        history.append({
            "run_id": run_id, "job_id": plan.job_id, "line_no": line_no, "change": CHANGE,
            "old_status": was.status, "old_code": was.code, "old_description": was.description,
            "old_method": was.method, "old_code_set": was.code_set, "new_status": status,
            "new_code": code, "new_description": description, "new_method": REVIEW,
            "new_code_set": code_set, "new_alternatives": "", "changed_at": now})
        updates.append({"job_id": plan.job_id, "line_no": line_no, "status": status,
                        "code": code, "description": description, "method": REVIEW,
                        "confidence": 1.0, "code_set": code_set, "alternatives": "",
                        "message": message, "resolved_at": now})
    session.execute(insert(ResultHistory), history)
    session.execute(update(ResultRow), updates)


def _approve(session: Session, d: Decision, reviewer: str, job_id: str, now: dt.datetime,
             dos_from: dt.date | None, dos_to: dt.date | None) -> str:
    """Store a global decision as an approved override, or leave it pending: with consensus on,
    a mapping takes effect once a second, different reviewer made the same decision."""
    reviewers = reviewer
    if get_settings().review_consensus:
        agreeing = list(session.scalars(
            select(ReviewDecision).where(ReviewDecision.entry_key == d.key,
                                         ReviewDecision.scope == GLOBAL,
                                         ReviewDecision.decision == d.decision,
                                         ReviewDecision.state == PENDING,
                                         ReviewDecision.reviewer != reviewer)))
        if not agreeing:
            return PENDING
        for earlier in agreeing:
            earlier.state = APPROVED
        reviewers = ", ".join(dict.fromkeys([*(e.reviewer for e in agreeing), reviewer]))
    # Other decisions still waiting on this entry lost: a mapping is in effect now.
    session.execute(update(ReviewDecision).where(
        ReviewDecision.entry_key == d.key, ReviewDecision.state == PENDING,
        ReviewDecision.decision != d.decision).values(state=SUPERSEDED))
    # Delete and insert, as `override add` does: a new id is how running resolvers notice.
    session.execute(delete(Override).where(Override.term_key == d.key))
    session.flush()
    session.add(Override(term_key=d.key, term=d.entry, code=d.decision, note=d.note,
                         created_at=now, reviewer=reviewers, job_id=job_id, dos_from=dos_from,
                         dos_to=dos_to))
    return APPROVED


def recount(session: Session, job_id: str) -> None:
    """The job summary's counts by status and method, as the stored results now stand."""
    job = session.get(Job, job_id)
    if job is None or job.summary is None:
        return
    by_status = dict(session.execute(select(ResultRow.status, func.count())
                                     .where(ResultRow.job_id == job_id)
                                     .group_by(ResultRow.status)).all())
    by_method = dict(session.execute(select(ResultRow.method, func.count())
                                     .where(ResultRow.job_id == job_id)
                                     .group_by(ResultRow.method)).all())
    job.summary = {**job.summary,
                   "by_status": {k: int(v) for k, v in sorted(by_status.items())},
                   "by_method": {(k or "none"): int(v) for k, v in
                                 sorted(by_method.items(), key=lambda i: i[0] or "")}}


def write_outbox_versions(job_id: str) -> list[str]:
    """An inbox job's outbox file again, with the reviewed results; the file it replaces is
    kept beside it as NAME.results.vN.csv (N = 1 for the first results). Returns the paths."""
    from worker.inbox import files
    from worker.inbox.poll import ARCHIVED, DONE, results_name
    from worker.pipeline.export import write_atomically

    with db.session_scope() as session:
        rows = [(r.inbox, r.name) for r in session.scalars(
            select(InboxFile).where(InboxFile.job_id == job_id,
                                    InboxFile.state.in_((DONE, ARCHIVED))))]
    written = []
    for inbox, name in rows:
        outbox = files.subdir(Path(inbox), files.OUTBOX)
        target = outbox / results_name(name)
        if target.is_file() and not target.is_symlink():
            stem = target.name.removesuffix(".csv")
            n = 1
            while (outbox / f"{stem}.v{n}.csv").exists():
                n += 1
            # A second name for the old file: the rename below replaces only the current name.
            os.link(target, outbox / f"{stem}.v{n}.csv")
        write_atomically(target, functools.partial(_write_job, job_id))
        written.append(str(target))
    return written


def _write_job(job_id: str, fh: IO[str]) -> None:
    from worker.pipeline.export import export_results

    export_results(job_id, fh, "csv")
