"""Circuit breakers (pybreaker) for PostgreSQL and Redis, their state shared across processes in Redis.

One breaker per dependency, each in its own Redis namespace. Only connection-type failures count
(worker.errors.is_transient);
business and data errors are excluded so a bad file can never open a breaker. Every state change
is logged as a JSON event `breaker.state_change`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import pybreaker
import redis

from worker import db
from worker.errors import DependencyUnavailable, is_transient
from worker.settings import Settings, get_settings

log = logging.getLogger("dxcoder.breaker")
POSTGRES, REDIS = "postgresql", "redis"

# pybreaker logs a traceback for every Redis error while reading its own state; during a Redis
# outage that would flood the log. Our listener and the retry events say what matters.
logging.getLogger("pybreaker").setLevel(logging.CRITICAL)


class _StateLogger(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker,
                     old_state: pybreaker.CircuitBreakerState | None,
                     new_state: pybreaker.CircuitBreakerState) -> None:
        log.warning("breaker.state_change", extra={
            "breaker": cb.name, "old_state": old_state.name if old_state else None,
            "new_state": new_state.name, "fail_max": cb.fail_max,
            "reset_timeout": cb.reset_timeout,
        })


def redis_client(url: str) -> redis.Redis:
    # pybreaker's storage compares raw bytes: no decode_responses. Short timeouts so a Redis
    # outage costs milliseconds per call, not seconds.
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2,
                                health_check_interval=30)


class Breakers:
    """The process's breakers, built from the settings (rebuilt after fork)."""

    def __init__(self, settings: Settings) -> None:
        self.client = redis_client(settings.effective_redis_url)
        # One namespace per deployment (its queue), so two deployments sharing a Redis server
        # do not open each other's breakers.
        namespace = f"dxcoder:{settings.queue}"
        listeners = [_StateLogger()]
        self.postgres = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_db_fail_max,
            reset_timeout=settings.breaker_db_reset_timeout,
            exclude=[lambda exc: not is_transient(exc, POSTGRES)],
            listeners=listeners, name=POSTGRES,
            state_storage=self._storage(f"{namespace}:{POSTGRES}"),
        )
        self.redis = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_redis_fail_max,
            reset_timeout=settings.breaker_redis_reset_timeout,
            exclude=[lambda exc: not is_transient(exc, REDIS)],
            listeners=listeners, name=REDIS,
            state_storage=self._storage(f"{namespace}:{REDIS}"),
        )

    def _storage(self, namespace: str) -> pybreaker.CircuitBreakerStorage:
        try:
            return pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, self.client,
                                                 namespace=namespace)
        except redis.exceptions.RedisError:
            # Redis is down at start-up: keep a local state until the process is rebuilt.
            log.warning("breaker.local_state", extra={"breaker": namespace})
            return pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)

    def states(self) -> dict[str, str]:
        return {POSTGRES: self.postgres.current_state, REDIS: self.redis.current_state}

    @contextlib.contextmanager
    def guard(self, breaker: pybreaker.CircuitBreaker) -> Iterator[None]:
        """Run the block through `breaker`; an open circuit raises DependencyUnavailable."""
        try:
            with breaker.calling():
                yield
        except pybreaker.CircuitBreakerError:
            raise DependencyUnavailable(str(breaker.name), float(breaker.reset_timeout)) from None


_lock = threading.Lock()
_breakers: Breakers | None = None


def get_breakers() -> Breakers:
    global _breakers
    with _lock:
        if _breakers is None:
            _breakers = Breakers(get_settings())
        return _breakers


def install() -> Breakers:
    """Build this process's breakers and put the PostgreSQL one around every session scope."""
    global _breakers
    with _lock:
        _breakers = Breakers(get_settings())
        breakers = _breakers
    db.set_guard(lambda: breakers.guard(breakers.postgres))
    return breakers


def uninstall() -> None:
    global _breakers
    with _lock:
        _breakers = None
    db.set_guard(None)


def guard_redis() -> contextlib.AbstractContextManager[None]:
    breakers = get_breakers()
    return breakers.guard(breakers.redis)
