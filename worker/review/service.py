"""One way to apply a sheet's rows, for the CLI import and the review page alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from worker import db
from worker.review import apply, decide
from worker.review.sheet import SheetRow
from worker.settings import get_settings

log = logging.getLogger("dxcoder.review")


@dataclasses.dataclass
class Outcome:
    problems: list[str]
    applied: apply.Applied | None  # None: nothing was applied


def import_rows(source: str, rows: Sequence[SheetRow], reviewer: str, scope: str, *,
                partial: bool = False, job_id: str | None = None,
                dos_from: dt.date | None = None, dos_to: dt.date | None = None) -> Outcome:
    """Check the rows; unless a problem stops it (and not `partial`), apply the decisions in one
    transaction, then write inbox jobs' outbox files again and re-count their claim edits."""
    from worker.lifecycle.purge import purge_note

    with db.session_scope() as session:
        plan = decide.plan(session, source, rows, job_id=job_id)
        purged = purge_note(session, plan.job_id) if plan.job_id else None
        if purged is not None:  # nothing left to decide on; say so, never fail on it
            return Outcome([f"{source}: {purged}; nothing was applied"], None)
        if not plan.decisions or (plan.problems and not partial):
            return Outcome(plan.problems, None)
        done = apply.apply_plan(session, plan, reviewer, scope, dos_from=dos_from,
                                dos_to=dos_to, source=source.rsplit("/", 1)[-1])
    done.outbox = apply.write_outbox_versions(done.job_id)
    _recheck_edits(done.job_id)
    log.info("review.imported", extra={"job_id": done.job_id, "run_id": done.run_id,
                                       "decisions": done.decisions, "lines": done.lines,
                                       "approved": done.approved, "pending": done.pending,
                                       "refused": len(plan.problems), "scope": scope})
    return Outcome(plan.problems, done)


def _recheck_edits(job_id: str) -> None:
    """Codes changed under the job's claims: count its claim edits again (advisory: the
    decisions stand whatever happens here, and `dxcoder edits` checks again)."""
    if not get_settings().claim_edits:
        return
    from worker.pipeline import edits

    try:
        edits.record_job_edits(job_id)
    except Exception as exc:
        log.error("review.edits_failed", extra={"job_id": job_id, "error": type(exc).__name__})
