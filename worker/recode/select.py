"""Which stored results a recoding run re-checks, and why: one predicate for planner and chunk.

A stored line is re-checked when its outcome can change:
- `release`: the release in force on its date of service is newer than the one it used
  (a job pinned to an older release, or results stored before the new release was loaded);
- `override`: an approved override for its normalized term was created after it was resolved;
- `synonyms`: it is needs_review / no_match and the curated synonyms were loaded after it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import TypeVar

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from worker.codesets import catalog
from worker.contract import NEEDS_REVIEW, NO_MATCH, RESOLVED
from worker.models import CodeSetRelease, DataVersion, InputLine, Job, Override
from worker.models import Result as ResultRow
from worker.resolver.normalize import text_key

# Statuses a new release, override or synonym can change; invalid_input and error are not
# re-checked (the input is unreadable, or `dxcoder retry` owns the line).
RECHECKED = (RESOLVED, NEEDS_REVIEW, NO_MATCH)
UNRESOLVED = (NEEDS_REVIEW, NO_MATCH)
LONG_AGO = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def aware(value: dt.datetime | None) -> dt.datetime:
    """SQLite hands back naive datetimes; everything here is UTC. None is long ago."""
    if value is None:
        return LONG_AGO
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclasses.dataclass
class Changes:
    """What has changed in the reference data, read once per planner or chunk."""

    releases: list[CodeSetRelease]
    starts: dict[str, dt.date]  # release label -> effective_from
    overrides: dict[str, dt.datetime]  # normalized term -> created_at
    synonyms_loaded_at: dt.datetime | None

    @property
    def newest_change(self) -> dt.datetime:
        """Lines resolved after this cannot be override or synonym candidates."""
        times = [*self.overrides.values()]
        if self.synonyms_loaded_at is not None:
            times.append(self.synonyms_loaded_at)
        return max(times, default=LONG_AGO)

    def in_force(self, on: dt.date | None) -> str:
        return catalog.release_in_force(self.releases, on).label

    def reason(self, status: str, code_set: str, date_of_service: dt.date | None, term: str,
               resolved_at: dt.datetime | None) -> str | None:
        """Why this stored line must be re-checked, or None if its outcome cannot change."""
        if status not in RECHECKED:
            return None
        used = self.starts.get(code_set)
        if used is not None and self.starts[self.in_force(date_of_service)] > used:
            return "release"
        decided = aware(resolved_at)
        created = self.overrides.get(text_key(term)) if self.overrides else None
        if created is not None and created > decided:
            return "override"
        if (status in UNRESOLVED and self.synonyms_loaded_at is not None
                and self.synonyms_loaded_at > decided):
            return "synonyms"
        return None


def read_changes(session: Session) -> Changes:
    """Releases, override creation times and the synonyms' load time, in three small queries."""
    releases = catalog.releases(session)
    overrides = {key: aware(created) for key, created in
                 session.execute(select(Override.term_key, Override.created_at))}
    loaded = session.scalar(select(DataVersion.loaded_at).where(DataVersion.name == "synonyms"))
    return Changes(releases, {r.label: r.effective_from for r in releases}, overrides,
                   aware(loaded) if loaded is not None else None)


# Any select of stored lines; a TypeVar keeps each caller's column types through prefilter.
SelectT = TypeVar("SelectT", bound=Select)

LINE_COLUMNS = (ResultRow.job_id, ResultRow.line_no, ResultRow.status, ResultRow.code_set,
                InputLine.date_of_service, InputLine.term, ResultRow.resolved_at)


def prefilter(query: SelectT, changes: Changes) -> SelectT:
    """A cheap SQL superset of the candidates; `Changes.reason` decides exactly in Python."""
    newest = changes.releases[-1].label if changes.releases else ""
    older = [r.label for r in changes.releases if r.label != newest]
    return query.where(
        ResultRow.status.in_(RECHECKED),
        or_(ResultRow.code_set.in_(older) if older else false(),
            ResultRow.resolved_at.is_(None),
            ResultRow.resolved_at < changes.newest_change))


def scoped_lines(job_id: str | None, since: dt.date | None) -> Select:
    """Stored lines (result joined with its input line) of one job or jobs created since a date."""
    query = (select(*LINE_COLUMNS)
             .join(InputLine, and_(InputLine.job_id == ResultRow.job_id,
                                   InputLine.line_no == ResultRow.line_no)))
    if job_id is not None:
        query = query.where(ResultRow.job_id == job_id)
    if since is not None:
        start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
        query = query.where(ResultRow.job_id.in_(select(Job.id).where(Job.created_at >= start)))
    return query


def candidates(session: Session, changes: Changes, *, job_id: str | None = None,
               since: dt.date | None = None, batch: int = 10_000
               ) -> Iterator[tuple[str, int]]:
    """(job id, line number) of every line to re-check, in job and line order, streamed."""
    if not changes.releases:
        return
    query = prefilter(scoped_lines(job_id, since), changes).order_by(
        ResultRow.job_id, ResultRow.line_no)
    rows = session.execute(query.execution_options(stream_results=True, yield_per=batch))
    for job, line_no, status, code_set, dos, term, resolved_at in rows:
        if changes.reason(status, code_set, dos, term, resolved_at) is not None:
            yield job, line_no


def count_results(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ResultRow)) or 0)
