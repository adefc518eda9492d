"""The error hierarchy: what is permanent, what is transient, and what a person must fix."""

from __future__ import annotations


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


class UnsafeDirectory(DxcoderError):
    """A directory dxcoder writes claims data into (the inbox's outbox/, archive/, rejected/) is a
    symbolic link or not a directory; the message names it and says what to do."""


class ReleaseCheckError(SourceDataError):
    """A new code-set release contradicts its own hierarchy or has under half the billable codes
    of the release before it; nothing was written. Fix the file, or load it with --force."""


class ReleaseInUseError(DxcoderError):
    """A code-set release cannot be removed while jobs refer to it (without --force)."""
