"""Read a job's review queue: its needs_review (and no_match) lines grouped by entry, with candidates.

Entries are the same when the resolver's text key is (worker.resolver.normalize.text_key):
that is how an approved override is looked up, so a decision kept as a mapping applies to
exactly the lines it was made for. Every query here filters on the job id, so it reads one
job's rows (and one partition, once the bulk tables are partitioned by job).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, bindparam, func, or_, select
from sqlalchemy.orm import Session

from worker import db
from worker.contract import NEEDS_REVIEW, NO_MATCH, REVIEW
from worker.models import Code, CodeSetRelease
from worker.models import Result as ResultRow
from worker.resolver import qualifiers
from worker.resolver.normalize import text_key

EXAMPLE_LINES = 5
MAX_CANDIDATES = 10


@dataclasses.dataclass(frozen=True, slots=True)
class QueueLine:
    """One stored result of the job that a decision may change."""

    line_no: int
    input: str
    status: str
    code: str
    description: str
    method: str
    code_set: str
    alternatives: str
    message: str
    date_of_service: dt.date | None


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    code: str  # one code, or several `+`-joined
    title: str
    satisfies: tuple[str, ...]  # the entry's stated qualifiers its title states too

    def label(self) -> str:
        """How a sheet and the page show it; a decision may be this text as it stands."""
        met = f" [satisfies: {', '.join(self.satisfies)}]" if self.satisfies else ""
        return f"{self.code} {self.title}{met}"


@dataclasses.dataclass(slots=True)
class QueueEntry:
    """One distinct entry of the job and every line that carries it."""

    key: str
    entry: str
    lines: list[QueueLine]
    candidates: list[Candidate] = dataclasses.field(default_factory=list)

    @property
    def line_nos(self) -> list[int]:
        return [line.line_no for line in self.lines]

    @property
    def status(self) -> str:
        return "|".join(sorted({line.status for line in self.lines}))

    @property
    def message(self) -> str:
        return self.lines[0].message


_COLUMNS = (ResultRow.line_no, ResultRow.input, ResultRow.status, ResultRow.code,
            ResultRow.description, ResultRow.method, ResultRow.code_set, ResultRow.alternatives,
            ResultRow.message, ResultRow.date_of_service)


def queue_statuses(include_no_match: bool) -> tuple[str, ...]:
    return (NEEDS_REVIEW, NO_MATCH) if include_no_match else (NEEDS_REVIEW,)


def read_lines(session: Session, job_id: str, statuses: Sequence[str], *,
               reviewed: bool = False) -> list[QueueLine]:
    """The job's lines in `statuses`, in line order; `reviewed` adds lines a person already
    decided (a later decision on the same entry replaces theirs)."""
    wanted: list[ColumnElement[bool]] = [ResultRow.status == status for status in statuses]
    if reviewed:
        wanted.append(ResultRow.method == REVIEW)
    query = (select(*_COLUMNS).where(ResultRow.job_id == bindparam("job_id"), or_(*wanted))
             .order_by(ResultRow.line_no))
    # Plain tuples off the DBAPI cursor: a nightly file's queue is tens of thousands of lines,
    # and SQLAlchemy's rows took most of the time reading them. SQLite gives dates as text.
    return [QueueLine(*row[:-1], _date(row[-1]))  # type: ignore[call-arg]
            for row in db.fetch_tuples(session, query, {"job_id": job_id})]


def _date(value: object) -> dt.date | None:
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value if isinstance(value, dt.date) else None


def group(lines: Iterable[QueueLine]) -> dict[str, QueueEntry]:
    """Lines by entry key, in order of first appearance."""
    entries: dict[str, QueueEntry] = {}
    keys: dict[str, str] = {}  # the same raw text is keyed once
    for line in lines:
        key = keys.get(line.input)
        if key is None:
            key = keys[line.input] = text_key(line.input)
        found = entries.get(key)
        if found is None:
            entries[key] = QueueEntry(key, line.input, [line])
        else:
            found.lines.append(line)
    return entries


def read_queue(session: Session, job_id: str, *, include_no_match: bool = False
               ) -> list[QueueEntry]:
    """The job's review queue: one entry per key, most lines first, with candidates."""
    entries = list(group(read_lines(session, job_id, queue_statuses(include_no_match))).values())
    entries.sort(key=lambda e: (-len(e.lines), e.lines[0].line_no))
    add_candidates(session, entries)
    return entries


def _proposed(entry: QueueEntry) -> list[tuple[str, str]]:
    """(release label, codes) the entry's lines propose, best first: the suggested code of a
    needs_review line, then its alternatives; lines on other releases add theirs after."""
    found: dict[str, str] = {}
    for line in entry.lines:
        codes = [line.code] if line.code and line.status == NEEDS_REVIEW else []
        codes += [c for c in line.alternatives.split("|") if c]
        for code in codes:
            found.setdefault(code, line.code_set)
    return [(label, code) for code, label in found.items()][:MAX_CANDIDATES]


def titles(session: Session, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(release label, code) -> title, one query per release."""
    by_label: dict[str, set[str]] = collections.defaultdict(set)
    for label, code in pairs:
        by_label[label].add(code)
    found: dict[tuple[str, str], str] = {}
    for label, codes in by_label.items():
        rows = session.execute(
            select(Code.code, Code.title).join(CodeSetRelease, CodeSetRelease.id == Code.release_id)
            .where(CodeSetRelease.label == label, Code.code.in_(sorted(codes))))
        found.update({(label, code): title for code, title in rows})
    return found


def add_candidates(session: Session, entries: Sequence[QueueEntry]) -> None:
    proposed = {id(e): _proposed(e) for e in entries}
    wanted = {(label, part) for pairs in proposed.values() for label, code in pairs
              for part in code.split("+")}
    known = titles(session, wanted)
    for entry in entries:
        stated = qualifiers.of_entry(entry.key)
        candidates = []
        for label, code in proposed[id(entry)]:
            parts = code.split("+")
            part_titles = [known.get((label, part), "") for part in parts]
            met: dict[str, None] = {}
            for part, title in zip(parts, part_titles, strict=True):
                met.update(dict.fromkeys(
                    qualifiers.satisfied_names(stated, qualifiers.of_title(part, title))))
            candidates.append(Candidate(code, "; ".join(part_titles), tuple(met)))
        entry.candidates = candidates


def needs_review_counts(session: Session, job_ids: Sequence[str]) -> dict[str, int]:
    """job id -> its needs_review lines (jobs without any are left out)."""
    if not job_ids:
        return {}
    rows = session.execute(select(ResultRow.job_id, func.count())
                           .where(ResultRow.job_id.in_(list(job_ids)),
                                  ResultRow.status == NEEDS_REVIEW)
                           .group_by(ResultRow.job_id))
    return {job_id: int(count) for job_id, count in rows}


def example_lines(entry: QueueEntry) -> str:
    return " ".join(str(n) for n in entry.line_nos[:EXAMPLE_LINES])
