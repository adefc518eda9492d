"""SQLAlchemy 2 models: code-set releases, codes, terms, GEMs, overrides, jobs, chunks, results."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints so Alembic migrations are identical on PostgreSQL and SQLite.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT autoincrement does not autoincrement on SQLite; INTEGER there is the rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CodeSetRelease(Base):
    """One loaded ICD-10-CM release; the one in force on a date is the latest effective_from <= date."""

    __tablename__ = "code_set_release"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(32), unique=True)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    code_count: Mapped[int] = mapped_column(Integer, default=0)
    billable_count: Mapped[int] = mapped_column(Integer, default=0)
    term_count: Mapped[int] = mapped_column(Integer, default=0)


class Code(Base):
    """An ICD-10-CM code (dotted) of one release: headers and billable codes alike."""

    __tablename__ = "code"
    release_id: Mapped[int] = mapped_column(
        ForeignKey("code_set_release.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    billable: Mapped[bool] = mapped_column(Boolean)
    parent: Mapped[str | None] = mapped_column(String(8))
    level: Mapped[int] = mapped_column(SmallInteger)  # 1 = category (3 characters)


class Term(Base):
    """A text that names a code: its title, an inclusion term, a CMS short title or a synonym."""

    __tablename__ = "term"
    __table_args__ = (Index("ix_term_release_code", "release_id", "code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(
        ForeignKey("code_set_release.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # title | inclusion | short_title | synonym


class GemMapping(Base):
    """One ICD-9-CM -> ICD-10-CM General Equivalence Mapping row with its five flags."""

    __tablename__ = "gem_mapping"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    icd9_code: Mapped[str] = mapped_column(String(8), index=True)  # dotted, e.g. 250.00, V45.81
    icd9_title: Mapped[str] = mapped_column(Text, default="")
    icd10_code: Mapped[str | None] = mapped_column(String(8))  # None when no_map
    approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    no_map: Mapped[bool] = mapped_column(Boolean, default=False)
    combination: Mapped[bool] = mapped_column(Boolean, default=False)
    scenario: Mapped[int] = mapped_column(SmallInteger, default=0)
    choice_list: Mapped[int] = mapped_column(SmallInteger, default=0)


class CodeNote(Base):
    """A tabular instructional note that claim edits check (Excludes1, Code first, Use additional
    code), its code references read into ranges at load time (worker.codesets.notes)."""

    __tablename__ = "code_note"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(
        ForeignKey("code_set_release.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # excludes1 | code_first | use_additional
    holder_code: Mapped[str] = mapped_column(String(16))  # E11.621, or a section E08-E13
    holder_low: Mapped[str] = mapped_column(String(8))  # flat bounds of the codes that inherit it
    holder_high: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    refs: Mapped[list[Any]] = mapped_column(JSON)  # [[low, high, positions, characters, suffix]]
    if_applicable: Mapped[bool] = mapped_column(Boolean, default=False)


class GemBackward(Base):
    """One ICD-10-CM -> ICD-9-CM row of CMS's backward GEM (2018_I10gem.txt), flags kept.

    Read by `codeset show` of an ICD-10-CM code (its ICD-9-CM sources), never by the resolver.
    """

    __tablename__ = "gem_backward"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    icd10_code: Mapped[str] = mapped_column(String(8), index=True)  # dotted, e.g. E11.9
    icd9_code: Mapped[str | None] = mapped_column(String(8))  # dotted; None when no_map
    approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    no_map: Mapped[bool] = mapped_column(Boolean, default=False)
    combination: Mapped[bool] = mapped_column(Boolean, default=False)
    scenario: Mapped[int] = mapped_column(SmallInteger, default=0)
    choice_list: Mapped[int] = mapped_column(SmallInteger, default=0)


class Icd9Title(Base):
    """CMS's ICD-9-CM v32 long and short title of a diagnosis code (the last ICD-9-CM release)."""

    __tablename__ = "icd9_title"
    code: Mapped[str] = mapped_column(String(8), primary_key=True)  # dotted: 250.00, V45.81
    title: Mapped[str] = mapped_column(Text)
    short_title: Mapped[str] = mapped_column(Text, default="")


class DataVersion(Base):
    """What was loaded of a non-release data set (GEMs, curated synonyms) and its checksum."""

    __tablename__ = "data_version"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Override(Base):
    """An approved term -> code mapping that beats every algorithm (method `override`)."""

    __tablename__ = "override"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term_key: Mapped[str] = mapped_column(String(1000), unique=True)  # normalized term
    term: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(64))  # one code, or several `+`-joined, in order
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Approved in review (migration 0007): who, the job the decision came from, and the
    # dates of service it holds for (None: open-ended).
    reviewer: Mapped[str] = mapped_column(String(128), default="", server_default="")
    job_id: Mapped[str | None] = mapped_column(String(32))
    dos_from: Mapped[dt.date | None] = mapped_column(Date)
    dos_to: Mapped[dt.date | None] = mapped_column(Date)


class ReviewDecision(Base):
    """A reviewer's decision on one distinct entry of a job (worker.review): applied to the
    job's lines, and with global scope approved as an override, or pending a second reviewer."""

    __tablename__ = "review_decision"
    __table_args__ = (Index("ix_review_decision_entry_key_state", "entry_key", "state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    entry_key: Mapped[str] = mapped_column(String(1000))  # the resolver's text key
    entry: Mapped[str] = mapped_column(Text)  # the entry as the job's first such line has it
    decision: Mapped[str] = mapped_column(String(64))  # codes, `+`-joined, or no_match
    reviewer: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[str] = mapped_column(String(8))  # job | global
    state: Mapped[str] = mapped_column(String(16))  # applied | approved | pending | superseded
    lines: Mapped[int] = mapped_column(Integer, default=0)
    dos_from: Mapped[dt.date | None] = mapped_column(Date)
    dos_to: Mapped[dt.date | None] = mapped_column(Date)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    """A submitted file: its lines are staged, cut into chunks, resolved and counted here."""

    __tablename__ = "job"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    source_file: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(16), default="csv")
    release_label: Mapped[str | None] = mapped_column(String(32))  # pinned release, else by date
    status: Mapped[str] = mapped_column(String(16), default="staging")
    total_lines: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Chunk(Base):
    """A contiguous range of a job's lines; one Celery message carries its id."""

    __tablename__ = "chunk"
    __table_args__ = (
        UniqueConstraint("job_id", "chunk_no"),
        Index("ix_chunk_status_lease", "status", "lease_until"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    chunk_no: Mapped[int] = mapped_column(Integer)
    first_line: Mapped[int] = mapped_column(Integer)
    last_line: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|error
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, default="")
    # What the chunk found checking its inner claims (worker.pipeline.chunk_edits); NULL: the
    # job's claims are checked whole when it finishes.
    claim_edits: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class InputLine(Base):
    """A staged input line of a job, as parsed from the file."""

    __tablename__ = "input_line"
    # No foreign key to job on the two bulk tables: checked row by row it doubled the cost of
    # writing them, and their rows are only written for a job that exists (migration 0003).
    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[str] = mapped_column(Text, default="")
    term: Mapped[str] = mapped_column(Text, default="")
    system: Mapped[str] = mapped_column(String(16), default="auto")
    date_of_service: Mapped[dt.date | None] = mapped_column(Date)
    extra: Mapped[str] = mapped_column(Text, default="")  # JSON of pass-through columns
    error: Mapped[str] = mapped_column(Text, default="")  # non-empty: invalid_input


class Result(Base):
    """Exactly one result per (job, line): written with INSERT .. ON CONFLICT DO NOTHING."""

    __tablename__ = "result"
    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # no foreign key: see InputLine
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[str] = mapped_column(Text, default="")
    input: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(32), default="")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    code_set: Mapped[str] = mapped_column(String(32), default="")
    alternatives: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    # The date of service the line was resolved for (migration 0004); None: it had none.
    date_of_service: Mapped[dt.date | None] = mapped_column(Date)
    # When this outcome was decided: recoding compares it with overrides and synonym loads.
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                            default=utcnow)


class InboxFile(Base):
    """A file dropped in a watched inbox; its state moves seen -> submitted -> done|rejected."""

    __tablename__ = "inbox_file"
    __table_args__ = (UniqueConstraint("inbox", "content_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox: Mapped[str] = mapped_column(Text)  # absolute path of the inbox directory
    name: Mapped[str] = mapped_column(Text)  # file name inside the inbox
    content_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16), default="seen")
    job_id: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RecodeRun(Base):
    """One recoding run (nightly or by hand): its scope, progress and counts per change class."""

    __tablename__ = "recode_run"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), default="cli")  # beat | cli
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"job": .., "since": ..}
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|done|failed
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # per class, unchanged counted
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RecodeChunk(Base):
    """A range of one job's stored lines to re-check in a run; one Celery message each."""

    __tablename__ = "recode_chunk"
    __table_args__ = (UniqueConstraint("run_id", "job_id", "first_line"),
                      Index("ix_recode_chunk_status_lease", "status", "lease_until"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("recode_run.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    first_line: Mapped[int] = mapped_column(Integer)
    last_line: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ResultHistory(Base):
    """A stored result a recoding run changed (a dry run: would change): the outcome before and
    after, never overwritten."""

    __tablename__ = "result_history"
    run_id: Mapped[str] = mapped_column(ForeignKey("recode_run.id", ondelete="CASCADE"),
                                        primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"),
                                        primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    change: Mapped[str] = mapped_column(String(16))  # retitled|deleted|expanded|newly_resolved
    old_status: Mapped[str] = mapped_column(String(16))
    old_code: Mapped[str] = mapped_column(String(64), default="")
    old_description: Mapped[str] = mapped_column(Text, default="")
    old_method: Mapped[str] = mapped_column(String(32), default="")
    old_code_set: Mapped[str] = mapped_column(String(32), default="")
    new_status: Mapped[str] = mapped_column(String(16))
    new_code: Mapped[str] = mapped_column(String(64), default="")
    new_description: Mapped[str] = mapped_column(Text, default="")
    new_method: Mapped[str] = mapped_column(String(32), default="")
    new_code_set: Mapped[str] = mapped_column(String(32), default="")
    new_alternatives: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TaskMetric(Base):
    """One record per task run (the `chunk.resolved` event), for collection and `dxcoder metrics`."""

    __tablename__ = "task_metric"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64), default="")
    task_name: Mapped[str] = mapped_column(String(64), default="")
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    chunk_no: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok | retry | error
    lines: Mapped[int] = mapped_column(Integer, default=0)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
