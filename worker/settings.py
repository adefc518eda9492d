"""Typed settings read once from the environment, with a default and a one-line doc per key."""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from worker.errors import ConfigError

_PREFIX = "DXCODER_"


def _setting(default: Any, doc: str, *, secret: bool = False) -> Any:
    return dataclasses.field(default=default, metadata={"doc": doc, "secret": secret})


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every knob dxcoder has. Environment variable = DXCODER_ + the field name upper-cased."""

    data_dir: str = _setting(".dxcoder", "Directory for the embedded SQLite database and local state.")
    database_url: str = _setting(
        "", "SQLAlchemy URL of the database; empty = embedded SQLite file in DATA_DIR.", secret=True
    )
    broker_url: str = _setting(
        "redis://127.0.0.1:6379/0", "Celery broker (Redis) URL.", secret=True
    )
    redis_url: str = _setting(
        "", "Redis URL for shared circuit-breaker state; empty = the broker's server.", secret=True
    )
    db_pool_size: int = _setting(
        20,
        "Connections kept per engine (CLI, producer). Prefork workers use WORKER_DB_POOL_SIZE.",
    )
    db_max_overflow: int = _setting(30, "Extra connections an engine may open under burst load.")
    db_pool_pre_ping: bool = _setting(True, "Test a pooled connection before use (survives restarts).")
    db_pool_recycle: int = _setting(3600, "Seconds after which a pooled connection is replaced.")
    worker_db_pool_size: int = _setting(
        2,
        "Pool size inside each prefork worker process (it runs one task at a time; "
        "connections = hosts x concurrency x (this + WORKER_DB_MAX_OVERFLOW)).",
    )
    worker_db_max_overflow: int = _setting(1, "Overflow inside each prefork worker process.")
    breaker_db_fail_max: int = _setting(3, "PostgreSQL breaker: consecutive failures that open it.")
    breaker_db_reset_timeout: int = _setting(30, "PostgreSQL breaker: seconds open before a trial call.")
    breaker_redis_fail_max: int = _setting(5, "Redis breaker: consecutive failures that open it.")
    breaker_redis_reset_timeout: int = _setting(60, "Redis breaker: seconds open before a trial call.")
    chunk_size: int = _setting(2000, "Input lines per chunk (one Celery message each).")
    run_chunk_size: int = _setting(
        5000,
        "Input lines per chunk of `dxcoder run` and of the inbox's embedded mode: no messages to "
        "keep small there, and each chunk costs three transactions, so larger chunks pay "
        "(1M lines: 10% faster than at 2,000).",
    )
    claim_edits: bool = _setting(
        True, "Check each finished job's claims against the tabular's notes (`dxcoder edits`); "
        "off skips the counts at completion, the command still checks on demand.")
    queue: str = _setting("dxcoder.resolve", "Celery queue the chunk tasks go to.")
    task_soft_time_limit: int = _setting(240, "Seconds before a chunk task gets SoftTimeLimitExceeded.")
    task_time_limit: int = _setting(300, "Seconds before a chunk task's process is killed.")
    task_max_retries: int = _setting(12, "Retries of a chunk task for transient failures.")
    retry_backoff_max: int = _setting(60, "Ceiling in seconds of one exponential retry countdown.")
    max_attempts: int = _setting(
        5, "Deliveries of one chunk before its lines are marked error (stops redelivery loops)."
    )
    visibility_timeout: int = _setting(
        3600, "Seconds Redis waits for an ack before redelivering; > time limit + retry countdown."
    )
    lease_seconds: int = _setting(
        900, "Seconds a queued/running chunk may go untouched before the reconciler re-enqueues it."
    )
    lease_margin: int = _setting(
        30, "Seconds past the hard time limit before a running chunk counts as abandoned."
    )
    reconcile_interval: int = _setting(60, "Seconds between reconciler runs on beat.")
    recode_crontab: str = _setting("0 2 * * *", "Crontab (m h dom mon dow) of the nightly recoding run.")
    retention_days: int = _setting(
        180, "Days a job's claims data (lines, results, history) and inbox archive/outbox files "
        "are kept; beat purges older ones daily, keeping a PHI-free summary row per job."
    )
    purge_crontab: str = _setting("30 3 * * *", "Crontab (m h dom mon dow) of the daily retention purge.")
    inbox_dir: str = _setting("", "Watched drop-off directory polled by beat; empty = no inbox polling.")
    inbox_poll_interval: int = _setting(10, "Seconds between inbox polls (beat task and `inbox watch`).")
    inbox_settle_seconds: int = _setting(
        5, "Seconds an inbox file's size and mtime must stay unchanged before it is submitted."
    )
    group_readable: bool = _setting(
        False, "Create files holding claims data (database, results, outbox, log, flower.db) "
        "0640 instead of 0600, for a group that reads them (the systemd units' group).",
    )
    inbox_require_marker: bool = _setting(
        False, "Take an inbox file only once its sidecar marker NAME.done or NAME.ok exists "
        "(written by the sender after the file); the marker is archived with the file.",
    )
    log_format: str = _setting("json", "Log format: json or text.")
    log_level: str = _setting("INFO", "Log level: DEBUG, INFO, WARNING, ERROR.")
    log_file: str = _setting("", "Optional log file, rotated at LOG_MAX_BYTES x LOG_BACKUP_COUNT.")
    log_max_bytes: int = _setting(10 * 1024 * 1024, "Size in bytes at which the log file rotates.")
    log_backup_count: int = _setting(5, "Rotated log files kept.")
    worker_concurrency: int = _setting(
        0, "Prefork processes per worker (deploy/start-worker.sh passes -c); 0 = one per core."
    )
    flower_address: str = _setting(
        "127.0.0.1", "Address Flower listens on; 0.0.0.0 only behind a TLS reverse proxy or in "
        "a container whose port is published on 127.0.0.1 (deploy/README.md).",
    )
    flower_port: int = _setting(5555, "Port Flower (`dxcoder flower`) listens on.")
    flower_user: str = _setting("", "Flower basic-auth user; Flower refuses to start without one.")
    flower_password: str = _setting("", "Flower basic-auth password.", secret=True)
    flower_db: str = _setting("", "Flower's persistent state file; empty = DATA_DIR/flower.db.")
    flower_max_tasks: int = _setting(20000, "Tasks Flower keeps in memory (oldest dropped first).")
    flower_state_save_interval: int = _setting(60, "Seconds between saves of Flower's state.")
    flower_wait_for_workers: int = _setting(
        120, "Seconds deploy/start-flower.sh waits for a worker to answer ping before starting."
    )
    review_address: str = _setting(
        "127.0.0.1", "Address the review page (`dxcoder review serve`) listens on.",
    )
    review_port: int = _setting(5556, "Port of the review page (`dxcoder review serve`).")
    review_user: str = _setting("", "Review page basic-auth user; the page refuses to start "
                                "without one. The reviewer name is the user who logs in.")
    review_password: str = _setting("", "Review page basic-auth password.", secret=True)
    review_consensus: bool = _setting(
        False, "Global review decisions take effect only once two different reviewers made the "
        "same decision on an entry (`dxcoder review pending` lists those waiting).",
    )
    exporter_address: str = _setting(
        "127.0.0.1", "Address the Prometheus exporter listens on (0.0.0.0: every interface).",
    )
    exporter_port: int = _setting(9808, "Port of the Prometheus exporter (`dxcoder exporter`).")
    health_timeout: int = _setting(2, "Seconds `dxcoder health` waits for Redis and worker pings.")
    health_max_queue_age: int = _setting(
        0, "Seconds the oldest queued chunk may wait before `dxcoder health` fails; 0 = report only."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read DXCODER_* variables; `overrides` (field names) win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            name = _PREFIX + field.name.upper()
            if field.name in overrides:
                values[field.name] = overrides[field.name]
            elif env.get(name, "") != "":
                values[field.name] = _parse(name, env[name], field.default)
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.log_format not in ("json", "text"):
            raise ConfigError(f"DXCODER_LOG_FORMAT must be json or text, not {self.log_format!r}")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"DXCODER_LOG_LEVEL {self.log_level!r} is not a log level")
        if self.chunk_size < 1:
            raise ConfigError("DXCODER_CHUNK_SIZE must be at least 1")
        if self.run_chunk_size < 1:
            raise ConfigError("DXCODER_RUN_CHUNK_SIZE must be at least 1")
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ConfigError("DXCODER_TASK_SOFT_TIME_LIMIT must be below DXCODER_TASK_TIME_LIMIT")
        if self.visibility_timeout <= self.task_time_limit + self.breaker_db_reset_timeout * 2:
            raise ConfigError(
                "DXCODER_VISIBILITY_TIMEOUT must exceed the task time limit plus the longest retry "
                "countdown, or Redis redelivers chunks that are still running"
            )
        if len(self.recode_crontab.split()) != 5:
            raise ConfigError("DXCODER_RECODE_CRONTAB needs five fields: minute hour dom month dow")
        if len(self.purge_crontab.split()) != 5:
            raise ConfigError("DXCODER_PURGE_CRONTAB needs five fields: minute hour dom month dow")
        if self.retention_days < 1:
            raise ConfigError("DXCODER_RETENTION_DAYS must be at least 1 (days of claims data kept)")

    @property
    def effective_database_url(self) -> str:
        """The URL every engine uses (CLI, workers, beat, Alembic): see normalize_database_url."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{Path(self.data_dir).resolve() / 'dxcoder.sqlite3'}"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or self.broker_url

    @property
    def is_embedded(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def describe(self) -> list[tuple[str, str, str]]:
        """(variable, effective value with secrets masked, doc) for every setting."""
        rows = []
        for field in dataclasses.fields(self):
            value: Any = getattr(self, field.name)
            if field.name == "database_url":
                value = self.effective_database_url
            elif field.name == "redis_url":
                value = self.effective_redis_url
            shown = str(value)
            if field.metadata["secret"]:
                # A URL keeps its host (only the password hidden); a plain secret is hidden whole.
                shown = mask_url(shown) if "://" in shown else ("***" if shown else "")
            rows.append((_PREFIX + field.name.upper(), shown, field.metadata["doc"]))
        return rows


def _parse(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    return raw


# The plain forms platforms hand out (Heroku, Render, Fly, RDS consoles): SQLAlchemy does not
# know `postgres://` at all, and since 2.1 maps `postgresql://` to psycopg (3), which dxcoder
# does not install. psycopg2 is the driver the design chose (COPY through copy_expert).
_PLAIN_POSTGRES = ("postgres://", "postgresql://")


def normalize_database_url(url: str) -> str:
    """`postgres://` and `postgresql://` -> `postgresql+psycopg2://`; any other URL unchanged."""
    for prefix in _PLAIN_POSTGRES:
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


# Query parameters that carry a credential (libpq's password=, sslpassword=, a token=...).
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature", re.I)


def mask_url(url: str) -> str:
    """Hide every password-like part of a URL: the userinfo password and query parameters
    such as password=, pass=, pwd=, secret=, token=, api_key= (postgresql://u:secret@h/db?
    password=x -> postgresql://u:***@h/db?password=***). Host, user and database stay shown."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "***"
    if parts.query:
        # Split by hand, not parse_qsl + urlencode: the rest of the query is shown as written.
        shown = []
        for pair in parts.query.split("&"):
            name, eq, _ = pair.partition("=")
            shown.append(f"{name}=***" if eq and _SECRET_PARAM.search(unquote(name)) else pair)
        parts = parts._replace(query="&".join(shown))
    if password is not None:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    elif parts.query:
        # urlunsplit would drop the empty host of sqlite:////path: keep what precedes the query.
        head, _, rest = url.partition("?")
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        return f"{head}?{parts.query}{fragment}"
    else:
        return url
    return urlunsplit(parts)


_lock = threading.Lock()
_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = Settings.from_env()
        return _current


def configure(settings: Settings | None = None, **overrides: Any) -> Settings:
    """Replace the process-wide settings (tests and the CLI's options use this)."""
    global _current
    with _lock:
        _current = settings if settings is not None else Settings.from_env(**overrides)
        return _current
