"""`dxcoder exporter` scraped after a real job: lines, durations, breakers, backlog."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from tests.clitools import cli, wait_until
from tests.conftest import PipelineEnv
from tests.ops.helpers import DXCODER, SAMPLE, Service, http_get, listening_addresses
from tests.servers import free_port
from worker import db
from worker.ops.exporter import TaskMetricTotals
from worker.pipeline import jobs


def _scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    code, body = http_get(url)
    assert code == 200, body
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _by(samples: dict[tuple[tuple[str, str], ...], float], label: str) -> dict[str, float]:
    return {dict(labels)[label]: value for labels, value in samples.items()}


def test_exporter_reports_the_job_after_it_ran(pipeline: PipelineEnv) -> None:
    pipeline.start_worker()
    submitted = cli(pipeline, "submit", str(SAMPLE), "--wait")
    assert submitted.returncode == 0, submitted.stderr
    status = jobs.job_status(submitted.stdout.strip())
    port = free_port()
    # No --address: the default (DXCODER_EXPORTER_ADDRESS) is what is tested.
    exporter = Service([DXCODER, "exporter", "--port", str(port)], pipeline.env(),
                       pipeline.tmp_path / "exporter.log").start()
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: http_get(url)[0] == 200, what="the exporter", service=exporter)
        assert listening_addresses(port) == {"127.0.0.1"}  # this machine only, by default
        metrics = _scrape(url)
        assert _by(metrics["dxcoder_lines_total"], "status") == status.by_status
        assert sum(_by(metrics["dxcoder_lines_total"], "status").values()) == 400
        by_method = _by(metrics["dxcoder_lines_by_method_total"], "method")
        assert sum(by_method.values()) == 400 and by_method == status.summary["by_method"]
        assert _by(metrics["dxcoder_chunk_runs_total"], "outcome") == {"done": 8}
        assert metrics["dxcoder_chunk_duration_seconds_count"][()] == 8
        assert metrics["dxcoder_chunk_duration_seconds_bucket"][(("le", "+Inf"),)] == 8
        assert metrics["dxcoder_chunk_duration_seconds_sum"][()] > 0
        assert metrics["dxcoder_chunk_redeliveries_total"][()] == 0
        assert _by(metrics["dxcoder_chunks"], "status") == {"queued": 0, "running": 0,
                                                             "done": 8, "error": 0}
        assert metrics["dxcoder_queue_depth"][(("queue", pipeline.queue),)] == 0
        assert metrics["dxcoder_oldest_queued_chunk_age_seconds"][()] == 0
        breakers = metrics["dxcoder_breaker_state"]
        assert breakers[(("breaker", "postgresql"), ("state", "closed"))] == 1
        assert breakers[(("breaker", "redis"), ("state", "open"))] == 0
        assert _by(metrics["dxcoder_dependency_up"], "dependency") == {"postgresql": 1,
                                                                       "redis": 1}
        # Counters are stable between scrapes when nothing runs.
        assert _scrape(url)["dxcoder_lines_total"] == metrics["dxcoder_lines_total"]
    finally:
        exporter.stop()


def test_settled_and_fresh_rows_add_up_the_same(pipeline: PipelineEnv) -> None:
    pipeline.start_worker()
    assert cli(pipeline, "submit", str(SAMPLE), "--wait").returncode == 0
    fresh, settled = TaskMetricTotals(), TaskMetricTotals()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with db.get_engine().connect() as conn:
        a = fresh.read(conn)
        b = settled.read(conn, now=later)
        assert fresh.watermark == 0 and settled.watermark > 0  # only old rows settle
        c = settled.read(conn, now=later)  # nothing new: the settled totals alone
    assert a == b == c
    assert sum(v for (kind, _), v in a.lines.items() if kind == "status") == 400


def test_a_retried_line_counts_once(pipeline: PipelineEnv) -> None:
    """Every line of a job first becomes `error`, then `dxcoder retry` resolves it: the line
    totals are the job's 400 lines by their final status, not 800 attempts."""
    from prometheus_client import generate_latest

    from tasks import broker
    from worker.ops.exporter import build_registry
    from worker.settings import get_settings

    doomed = pipeline.start_worker(max_attempts=0)
    failed = cli(pipeline, "submit", str(SAMPLE), "--wait")
    job_id = failed.stdout.strip()
    assert failed.returncode == 1 and "(error 400)" in failed.stderr, failed.stderr
    doomed.stop()
    pipeline.start_worker()
    assert cli(pipeline, "retry", job_id).returncode == 0
    wait_until(lambda: jobs.job_status(job_id).finished, what="the retried job")
    status = jobs.job_status(job_id)
    assert status.ok and sum(status.by_status.values()) == 400

    body = generate_latest(build_registry(get_settings(), broker)).decode()
    metrics: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            metrics[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    by_status = {k: v for k, v in _by(metrics["dxcoder_lines_total"], "status").items() if v}
    assert by_status == status.by_status
    by_method = {k: v for k, v in _by(metrics["dxcoder_lines_by_method_total"], "method").items()
                 if v}
    assert sum(by_method.values()) == 400 and by_method == status.summary["by_method"]
    assert _by(metrics["dxcoder_chunk_runs_total"], "outcome") == {"exhausted": 8, "done": 8}
    summary = json.loads(cli(pipeline, "metrics", job_id, "--json").stdout)
    assert summary["by_status"] == status.by_status
    assert summary["lines_written_by_tasks"] == 400 and summary["tasks"] == 16
