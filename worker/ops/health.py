"""Health of a deployment: database, schema, code sets, Redis, breakers, queue and workers.

Each check is cheap and bounded by a short timeout, so `dxcoder health` can be a container
healthcheck. A check that depends on another that failed is skipped, not failed, so the report
names the cause once (an unmigrated database is one failure, not three).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from typing import Any, Protocol

import redis
import sqlalchemy as sa

from worker import db
from worker.settings import Settings, mask_url

OK, FAIL, SKIP = "ok", "fail", "skip"


class BrokerProbe(Protocol):
    """What health and the exporter read from the broker; tasks.broker is one (the CLI passes
    it in, so this module needs no Celery)."""

    def queue_depth(self, client: redis.Redis | None = None, queue: str | None = None) -> int:
        """Messages waiting in the chunk queue, over every priority step."""

    def workers_online(self, settings: Settings) -> list[str]:
        """Workers that answer and consume our queue."""


@dataclasses.dataclass
class Check:
    """One line of the health report."""

    name: str
    status: str  # ok | fail | skip
    detail: str
    value: Any = None


@dataclasses.dataclass
class HealthReport:
    checks: list[Check]

    @property
    def healthy(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy,
                "checks": {c.name: {"status": c.status, "detail": c.detail, "value": c.value}
                           for c in self.checks}}


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(exc).__name__


def broker_client(settings: Settings) -> redis.Redis:
    """A client on the broker's Redis (where the queue lists live), with short timeouts."""
    timeout = max(settings.health_timeout, 1)
    return redis.Redis.from_url(settings.broker_url, socket_connect_timeout=timeout,
                                socket_timeout=timeout)


def chunk_backlog(now: dt.datetime | None = None) -> tuple[int, int, float | None]:
    """(queued chunks, running chunks, age in seconds of the oldest queued chunk or None).

    A queued chunk never sent (no enqueued_at) counts from its job's creation.
    """
    now = now or dt.datetime.now(dt.UTC)
    with db.get_engine().connect() as conn:
        counts: dict[str, int] = dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM chunk WHERE status IN ('queued', 'running') "
            "GROUP BY status")).tuples().all())
        oldest = conn.execute(sa.text(
            "SELECT min(coalesce(c.enqueued_at, j.created_at)) FROM chunk c "
            "JOIN job j ON j.id = c.job_id WHERE c.status = 'queued'")).scalar()
    age = None
    if oldest is not None:
        if isinstance(oldest, str):  # SQLite hands back text
            oldest = dt.datetime.fromisoformat(oldest)
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        age = max((now - oldest).total_seconds(), 0.0)
    return int(counts.get("queued", 0)), int(counts.get("running", 0)), age


def breaker_states(settings: Settings) -> dict[str, str]:
    """The shared breaker states as the workers see them (read from Redis)."""
    from worker.breakers import Breakers

    return Breakers(settings).states()


def _database_checks(settings: Settings) -> list[Check]:
    from worker import migrate

    url = mask_url(settings.effective_database_url)
    try:
        with db.get_engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return [Check("database", FAIL, f"cannot reach {url}: {_reason(exc)}"),
                Check("schema", SKIP, "database unreachable"),
                Check("code_sets", SKIP, "database unreachable"),
                Check("backlog", SKIP, "database unreachable")]
    checks = [Check("database", OK, f"reachable at {url}")]
    current, head = migrate.current_revision(), migrate.head_revision()
    if current != head:
        checks.append(Check("schema", FAIL, f"at {current or 'nothing'}, this dxcoder needs "
                                            f"{head}: run `dxcoder db upgrade`", current))
        checks += [Check("code_sets", SKIP, "schema not current"),
                   Check("backlog", SKIP, "schema not current")]
        return checks
    checks.append(Check("schema", OK, f"at {head}", head))
    with db.get_engine().connect() as conn:
        labels = list(conn.execute(sa.text(
            "SELECT label FROM code_set_release ORDER BY effective_from")).scalars())
    if labels:
        checks.append(Check("code_sets", OK, f"releases loaded: {', '.join(labels)}", labels))
    else:
        checks.append(Check("code_sets", FAIL, "no release loaded: run `dxcoder codeset load`",
                            []))
    queued, running, age = chunk_backlog()
    value = {"queued": queued, "running": running, "oldest_queued_s": age}
    detail = f"{queued} chunks queued, {running} running"
    if age is not None:
        detail += f"; oldest queued {age:.0f} s"
    status = OK
    if age is not None and settings.health_max_queue_age and age > settings.health_max_queue_age:
        status = FAIL
        detail += f" (over DXCODER_HEALTH_MAX_QUEUE_AGE={settings.health_max_queue_age})"
    checks.append(Check("backlog", status, detail, value))
    return checks


def _ping(url: str, settings: Settings) -> str | None:
    """None if the Redis at `url` answers, else why not."""
    client = redis.Redis.from_url(url, socket_connect_timeout=max(settings.health_timeout, 1))
    try:
        client.ping()
        return None
    except redis.exceptions.RedisError as exc:
        return _reason(exc)
    finally:
        client.close()


def _redis_checks(settings: Settings, broker: BrokerProbe, *, workers: bool, this_host: bool
                  ) -> list[Check]:
    url = mask_url(settings.broker_url)
    client = broker_client(settings)
    try:
        client.ping()
        depth = broker.queue_depth(client, settings.queue)
    except redis.exceptions.RedisError as exc:
        return [Check("redis", FAIL, f"cannot reach the broker at {url}: {_reason(exc)}"),
                Check("breakers", SKIP, "Redis unreachable"),
                Check("queue", SKIP, "Redis unreachable"),
                Check("workers", SKIP, "Redis unreachable")]
    finally:
        client.close()
    checks = [Check("redis", OK, f"reachable at {url}")]
    state_error = None
    if settings.effective_redis_url != settings.broker_url:
        state_error = _ping(settings.effective_redis_url, settings)
    if state_error:
        checks += [Check("redis_state", FAIL, "cannot reach the breaker-state Redis at "
                         f"{mask_url(settings.effective_redis_url)}: {state_error}"),
                   Check("breakers", SKIP, "breaker-state Redis unreachable")]
    else:
        states = breaker_states(settings)
        open_ = sorted(name for name, state in states.items() if state != "closed")
        detail = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
        if open_:
            detail += f": workers are backing off from {', '.join(open_)}"
        checks.append(Check("breakers", FAIL if open_ else OK, detail, states))
    checks.append(Check("queue", OK, f"{depth} messages waiting on {settings.queue}", depth))
    if not workers:
        checks.append(Check("workers", SKIP, "not asked (--no-workers)"))
        return checks
    names = broker.workers_online(settings)
    host = socket.gethostname()
    if this_host:
        names = [n for n in names if n.split("@", 1)[-1] == host]
    where = f"on {host} " if this_host else ""
    if names:
        checks.append(Check("workers", OK, f"{len(names)} online {where}consuming "
                                           f"{settings.queue}", names))
    else:
        checks.append(Check("workers", FAIL, f"no worker {where}answered within "
                                             f"{settings.health_timeout} s on {settings.queue}: "
                                             "start one with `dxcoder worker`", []))
    return checks


def run_checks(settings: Settings, broker: BrokerProbe, *, workers: bool = True,
               this_host: bool = False) -> HealthReport:
    """Every check in order; embedded mode (SQLite, no servers) skips Redis and workers."""
    checks = _database_checks(settings)
    if settings.is_embedded:
        checks += [Check(name, SKIP, "embedded mode: no broker")
                   for name in ("redis", "breakers", "queue", "workers")]
    else:
        checks += _redis_checks(settings, broker, workers=workers, this_host=this_host)
    return HealthReport(checks)
