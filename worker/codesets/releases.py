"""Removing a loaded code-set release, guarded by the jobs that still refer to it."""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from worker.codesets import catalog
from worker.errors import ReleaseInUseError
from worker.models import Code, CodeNote, Job, Result, Term

log = logging.getLogger("dxcoder.codeset")


@dataclasses.dataclass(frozen=True)
class Removed:
    label: str
    codes: int
    jobs: list[str]  # jobs that referred to it (only with force)

    def line(self) -> str:
        text = f"removed {self.label} ({self.codes:,} codes)"
        if self.jobs:
            text += (f"; {len(self.jobs):,} jobs still name it in their results "
                     f"({', '.join(self.jobs[:5])}{', ...' if len(self.jobs) > 5 else ''})")
        return text


def jobs_referring_to(session: Session, label: str) -> list[str]:
    """Jobs pinned to the release, or with stored results coded against it (purged jobs hold
    no results any more, so they do not keep a release alive)."""
    pinned = select(Job.id).where(Job.release_label == label)
    coded = select(Result.job_id).distinct().where(Result.code_set == label)
    return sorted(set(session.scalars(pinned)) | set(session.scalars(coded)))


def remove_release(session: Session, label: str, *, force: bool) -> Removed:
    release = catalog.release_by_label(session, label)
    users = jobs_referring_to(session, release.label)
    if users and not force:
        shown = ", ".join(users[:5]) + (", ..." if len(users) > 5 else "")
        raise ReleaseInUseError(
            f"{release.label} was not removed: {len(users):,} jobs refer to it ({shown}). "
            "Purge them (`dxcoder jobs purge --job JOB`) or remove it with --force")
    # Child rows by hand: SQLite enforces ON DELETE CASCADE only with its foreign-key pragma.
    for model in (Term, CodeNote, Code):
        session.execute(delete(model).where(model.release_id == release.id))
    codes = release.code_count
    session.delete(release)
    session.flush()
    log.info("codeset.removed", extra={"release": release.label, "codes": codes,
                                       "referring_jobs": len(users), "forced": bool(users)})
    return Removed(release.label, codes, users if force else [])
