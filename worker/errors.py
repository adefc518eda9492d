"""The error hierarchy: what is permanent, what is transient, and what a person must fix."""

from __future__ import annotations

import os

import redis.exceptions
import sqlalchemy.exc


class DxcoderError(Exception):
    """Base of every error dxcoder raises on purpose; the CLI prints its message on one line."""


class ConfigError(DxcoderError):
    """A setting is missing or malformed; the message names the variable and the accepted values."""


class SourceDataError(DxcoderError):
    """A code-set source file is missing, corrupt or of the wrong shape. Permanent: fix the file.

    Raised before anything is written, so the loaded releases stay as they were.
    """


class NotMigratedError(DxcoderError):
    """The database schema is older than this code; run `dxcoder db upgrade`."""


class NoReleaseError(DxcoderError):
    """No ICD-10-CM release is loaded (or the one named is unknown); run `dxcoder codeset load`."""


class JobError(DxcoderError):
    """A job or its file cannot be submitted or found; the message says which and why."""


class TransientError(DxcoderError):
    """A dependency (PostgreSQL, Redis) is unavailable for now; the operation may be retried."""


class DependencyUnavailable(TransientError):
    """A circuit breaker is open: calls to the dependency are refused until its reset timeout."""

    def __init__(self, dependency: str, retry_after: float) -> None:
        super().__init__(f"{dependency} is unavailable (circuit open); retry in {retry_after:.0f} s")
        self.dependency = dependency
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[DependencyUnavailable], tuple[str, float]]:
        # Pickled with its own arguments (by default pickle would call it with the message),
        # so it crosses a process boundary as itself: `dxcoder run`'s staging process sends it.
        return type(self), (self.dependency, self.retry_after)


class LockBusy(TransientError):
    """A job's partitions could not be attached or detached: the bulk tables stayed locked (a
    migration, a maintenance lock) through every retry. Nothing was staged; try again later
    (the inbox does, at its next poll)."""


class UnsafeDirectory(DxcoderError):
    """A directory dxcoder writes claims data into (the inbox's outbox/, archive/, rejected/) is a
    symbolic link or not a directory; the message names it and says what to do."""


class ReleaseCheckError(SourceDataError):
    """A new code-set release contradicts its own hierarchy or has under half the billable codes
    of the release before it; nothing was written. Fix the file, or load it with --force."""


class ReleaseInUseError(DxcoderError):
    """A code-set release cannot be removed while jobs refer to it (without --force)."""


class UnsafePath(DxcoderError):
    """A name that is not a plain file name inside the inbox (a path, '..', a symlink)."""


class FileRejected(DxcoderError):
    """The whole file cannot be read as claims data (empty, unknown format, no term column,
    unreadable, truncated X12 envelope). Permanent: the message names the file and what to do."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem


class BrokerUnavailable(TransientError):
    """The broker refused or dropped a publish (tasks.broker turns kombu's connection errors
    into this, so the domain can tell an outage from a bug without importing kombu)."""


# Connection-type failures: the server is down, restarting, refusing or full. The one list the
# task retries (autoretry_for), the breakers (what counts as a failure of their dependency) and
# the inbox (try the step again next poll) share; everything else is permanent for this attempt.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError)
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, BrokerUnavailable,
    ConnectionError, TimeoutError)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TransientError, *DATABASE_ERRORS,
                                                     *REDIS_ERRORS)
_BY_DEPENDENCY = {"postgresql": DATABASE_ERRORS, "redis": REDIS_ERRORS}


def is_transient(exc: BaseException, dependency: str | None = None) -> bool:
    """Whether `exc` is an outage (retry later) rather than a bug or bad data; with
    `dependency` ("postgresql", "redis"), an outage of that one (what its breaker counts)."""
    return isinstance(exc, _BY_DEPENDENCY[dependency] if dependency else TRANSIENT_ERRORS)


class SendFailed(TransientError):
    """A submit staged its whole job but the broker failed while its chunks were being sent:
    the job (`job_id`) is stored and the reconciler sends the rest; `cause` says what failed."""

    def __init__(self, job_id: str, cause: BaseException) -> None:
        super().__init__(f"{cause} after job {job_id} was stored")
        self.job_id = job_id
        self.cause = cause

    def __reduce__(self) -> tuple[type[SendFailed], tuple[str, BaseException]]:
        return type(self), (self.job_id, self.cause)


class SubmitInterrupted(KeyboardInterrupt):
    """A submit stopped by Ctrl-C or SIGTERM (still a KeyboardInterrupt). What it had staged
    is deleted; `job_id` names its job only when that job was whole and kept (it had
    completed), else None."""

    def __init__(self, job_id: str | None) -> None:
        super().__init__(job_id)
        self.job_id = job_id
