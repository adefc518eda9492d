"""Prometheus exporter: dxcoder's own metrics, read from PostgreSQL and Redis at each scrape.

Flower's /metrics covers Celery (events, task runtimes, workers online); this covers what only
dxcoder knows: lines by status and method, chunk durations, redeliveries, breakers, backlog.

The line counters come from `task_metric` (one row per task run, ~1 per 2,000 lines), never from
a scan of `result`. Rows are folded into running totals once they are older than a settle window,
so each scrape reads only new rows; newer rows are re-read each time, because a row with a lower
id can commit after one with a higher id. A restarted exporter rebuilds its totals with one scan
(Prometheus treats the reset like any counter reset).
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from worker import db
from worker.ops import health
from worker.pipeline.jobs import RETRY_CORRECTION, ChunkState
from worker.settings import Settings

log = logging.getLogger("dxcoder.exporter")
# Chunk durations in seconds: a 2,000-line chunk takes ~0.1-2 s; the tail shows trouble.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
SETTLE = dt.timedelta(seconds=120)
BREAKER_STATES = ("closed", "half-open", "open")
# Only chunk-resolving runs count towards lines: other tasks may record metrics of their own.
RESOLVE_TASK = "dxcoder.resolve_chunk"


@dataclasses.dataclass
class Totals:
    """Sums over task_metric rows."""

    lines: collections.Counter[tuple[str, str]] = dataclasses.field(
        default_factory=collections.Counter)  # (kind, key): kind = status | method
    runs: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    buckets: list[int] = dataclasses.field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    duration_sum: float = 0.0

    def add(self, outcome: str, lines: int, total_ms: float, record: dict[str, Any]) -> None:
        if outcome != RETRY_CORRECTION:  # a retry's correction (negative lines) is not a run
            self.runs[outcome] += 1
        if lines:  # a redelivered chunk writes nothing and must not count twice
            for kind in ("status", "method"):
                for key, value in (record.get(f"by_{kind}") or {}).items():
                    self.lines[(kind, str(key))] += int(value)
        if outcome == "done":
            seconds = float(total_ms) / 1000
            self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.duration_sum += seconds

    def plus(self, other: Totals) -> Totals:
        return Totals(self.lines + other.lines, self.runs + other.runs,
                      [a + b for a, b in zip(self.buckets, other.buckets, strict=True)],
                      self.duration_sum + other.duration_sum)


class TaskMetricTotals:
    """Running totals over task_metric, read incrementally (see the module docstring)."""

    def __init__(self) -> None:
        self.settled = Totals()
        self.watermark = 0
        self._lock = threading.Lock()

    def read(self, conn: sa.Connection, now: dt.datetime | None = None) -> Totals:
        now = now or dt.datetime.now(dt.UTC)
        with self._lock:
            fresh = Totals()
            rows = conn.execute(sa.text(
                "SELECT id, created_at, outcome, lines, total_ms, record FROM task_metric "
                "WHERE id > :watermark AND task_name = :task ORDER BY id"),
                {"watermark": self.watermark, "task": RESOLVE_TASK})
            settling = True
            for row in rows:
                record = row.record if isinstance(row.record, dict) else _json(row.record)
                created = row.created_at
                if isinstance(created, str):
                    created = dt.datetime.fromisoformat(created)
                if created.tzinfo is None:
                    created = created.replace(tzinfo=dt.UTC)
                # Only an unbroken run of old rows settles: the watermark never skips a row.
                settling = settling and created < now - SETTLE
                target = self.settled if settling else fresh
                target.add(row.outcome, int(row.lines or 0), float(row.total_ms or 0), record)
                if settling:
                    self.watermark = int(row.id)
            return self.settled.plus(fresh)


def _json(value: Any) -> dict[str, Any]:
    import json

    return json.loads(value) if value else {}


class DxcoderCollector(Collector):
    """Builds every dxcoder metric at scrape time; a dependency that is down reads as up=0."""

    def __init__(self, settings: Settings, broker: health.BrokerProbe) -> None:
        self.settings, self.broker = settings, broker
        self.totals = TaskMetricTotals()

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("dxcoder_dependency_up",
                               "1 if the exporter could read the dependency at this scrape",
                               labels=["dependency"])
        try:
            yield from self._database_metrics()
            up.add_metric(["postgresql"], 1)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("exporter.database_unavailable", extra={"error": type(exc).__name__})
            up.add_metric(["postgresql"], 0)
        if not self.settings.is_embedded:
            try:
                yield from self._redis_metrics()
                up.add_metric(["redis"], 1)
            except Exception as exc:  # any Redis failure: report it, keep the scrape alive
                log.warning("exporter.redis_unavailable", extra={"error": type(exc).__name__})
                up.add_metric(["redis"], 0)
        yield up

    def _database_metrics(self) -> Iterable[Metric]:
        with db.get_engine().connect() as conn:
            totals = self.totals.read(conn)
            redeliveries = conn.execute(sa.text(
                "SELECT coalesce(sum(attempts - 1), 0) FROM chunk WHERE attempts > 1")).scalar()
            chunk_counts: dict[str, int] = dict(conn.execute(sa.text(
                "SELECT status, count(*) FROM chunk GROUP BY status")).tuples().all())
            job_counts: dict[str, int] = dict(conn.execute(sa.text(
                "SELECT status, count(*) FROM job GROUP BY status")).tuples().all())
        by_status = CounterMetricFamily(
            "dxcoder_lines", "Result lines, by status; a line retried by `dxcoder retry` counts "
            "once, under its new status (the error series goes down by it)", labels=["status"])
        by_method = CounterMetricFamily(
            "dxcoder_lines_by_method", "Result lines written, by the stage that decided",
            labels=["method"])
        for (kind, key), value in sorted(totals.lines.items()):
            (by_status if kind == "status" else by_method).add_metric([key], value)
        yield by_status
        yield by_method
        runs = CounterMetricFamily("dxcoder_chunk_runs", "Chunk task runs, by outcome "
                                   "(done, skipped = duplicate delivery, exhausted)",
                                   labels=["outcome"])
        for outcome, value in sorted(totals.runs.items()):
            runs.add_metric([outcome], value)
        yield runs
        cumulative, buckets = 0, []
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], totals.buckets, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        histogram = HistogramMetricFamily(
            "dxcoder_chunk_duration_seconds", "Wall time of a chunk task run that resolved a chunk")
        histogram.add_metric([], buckets, totals.duration_sum)
        yield histogram
        yield CounterMetricFamily("dxcoder_chunk_redeliveries",
                                  "Deliveries of chunks beyond the first (retries, lost workers, "
                                  "reconciler re-sends)", value=int(redeliveries or 0))
        chunks = GaugeMetricFamily("dxcoder_chunks", "Chunks by status", labels=["status"])
        for status in (*ChunkState.UNFINISHED, *ChunkState.FINISHED):
            chunks.add_metric([status], int(chunk_counts.get(status, 0)))
        yield chunks
        jobs = GaugeMetricFamily("dxcoder_jobs", "Jobs by status", labels=["status"])
        for status, value in sorted(job_counts.items()):
            jobs.add_metric([status], int(value))
        yield jobs
        _, _, age = health.chunk_backlog()
        yield GaugeMetricFamily("dxcoder_oldest_queued_chunk_age_seconds",
                                "Age of the oldest chunk waiting for a worker (0 when none)",
                                value=age or 0.0)

    def _redis_metrics(self) -> Iterable[Metric]:
        client = health.broker_client(self.settings)
        try:
            depth = self.broker.queue_depth(client, self.settings.queue)
        finally:
            client.close()
        states = health.breaker_states(self.settings)
        queue = GaugeMetricFamily("dxcoder_queue_depth", "Chunk messages waiting in the broker",
                                  labels=["queue"])
        queue.add_metric([self.settings.queue], depth)
        yield queue
        breaker = GaugeMetricFamily("dxcoder_breaker_state",
                                    "1 for the state each circuit breaker is in",
                                    labels=["breaker", "state"])
        for name, current in sorted(states.items()):
            for state in BREAKER_STATES:
                breaker.add_metric([name, state], 1 if current == state else 0)
        yield breaker


def build_registry(settings: Settings, broker: health.BrokerProbe) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DxcoderCollector(settings, broker))
    return registry


def serve(settings: Settings, broker: health.BrokerProbe, port: int, address: str = "127.0.0.1"
          ) -> None:
    """Serve /metrics on `port` until interrupted."""
    server, thread = start_http_server(port, addr=address,
                                       registry=build_registry(settings, broker))
    log.warning("exporter.listening", extra={"port": port, "address": address})
    try:
        thread.join()
    finally:
        server.shutdown()
