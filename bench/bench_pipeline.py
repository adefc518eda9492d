"""Pipeline benchmark: a 1,000,000-line claims file through `dxcoder run` and `submit --wait`,
against two baselines measured in the same run: the floor (one process: parse, dictionary
lookup, COPY of results) and the per-line design (one Celery task and one query per line).

    .venv/bin/python bench/bench_pipeline.py [--lines 1000000] [--runs 3] [--perline-sample 2000]

Needs PostgreSQL and Redis on 127.0.0.1 (scripts/ensure-services.sh). Writes bench/out/pipeline.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
PG = os.environ.get("BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")
BROKER = os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/12")
OUT = ROOT / "bench" / "out"


def sh(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, text=True, capture_output=True, check=False, **kw)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DXCODER_")}
    env.update({"PYTHONPATH": str(ROOT), "DXCODER_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


def timed_rss(args: list[str], env: dict[str, str]) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Wall seconds and peak RSS (KiB, the process and its children) of a command."""
    started = time.perf_counter()
    done = sh(["/usr/bin/time", "-f", "%M", *args], env)
    elapsed = time.perf_counter() - started
    rss = int(done.stderr.strip().splitlines()[-1]) if done.stderr.strip() else 0
    return elapsed, rss, done


def process_tree(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                              check=False).stdout.split()
    return [pid, *[p for child in children for p in process_tree(int(child))]]


def high_water_kib(pid: int) -> int:
    """Peak RSS (VmHWM) of one live process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def create_db(admin: sa.Engine, name: str, template: str | None = None) -> str:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return f"{PG}/{name}"


def forget_queue(queue: str) -> None:
    """Delete what a run left in the broker's database: its queue's bindings and breaker state."""
    import redis

    client = redis.Redis.from_url(BROKER)
    for key in client.scan_iter(match=f"*{queue}*"):  # dxcoder:QUEUE:..., _kombu.binding.QUEUE
        client.delete(key)
    client.close()


def floor(path: Path, url: str) -> float:
    """One process, no framework: parse, dictionary lookup, COPY of the results."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        titles = dict(conn.execute(sa.text(
            "SELECT c.code, c.title FROM code c JOIN code_set_release r ON r.id = c.release_id "
            "WHERE r.label = 'FY2026'")).all())
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_floor (line_no int, code text, "
                             "title text)"))
        conn.execute(sa.text("TRUNCATE bench_floor"))
        conn.commit()
    started = time.perf_counter()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        for n, row in enumerate(reader, start=1):
            code = row[1].strip().upper().replace(".", "")
            dotted = code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"
            writer.writerow((n, dotted, titles.get(dotted, "")))
    buffer.seek(0)
    raw = engine.raw_connection()
    with raw.cursor() as cursor:
        cursor.copy_expert("COPY bench_floor FROM STDIN WITH (FORMAT csv)", buffer)
    raw.commit()
    raw.close()
    engine.dispose()
    return time.perf_counter() - started


def perline(sample: Path, url: str, lines: int) -> float:
    env = base_env(BENCH_BROKER=BROKER, BENCH_DATABASE_URL=url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_perline (run text, line_no int, "
                             "code text, title text)"))
    worker = subprocess.Popen([str(BIN / "celery"), "-A", "bench.perline_app", "worker", "-c", "2",
                               "--pool", "prefork", "-Q", "perline", "--without-gossip",
                               "--without-mingle", "-l", "WARNING"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(4)
    sys.path.insert(0, str(ROOT))
    os.environ.update(BENCH_BROKER=BROKER, BENCH_DATABASE_URL=url)
    from bench.perline_app import resolve_line

    run = uuid.uuid4().hex
    with sample.open(newline="") as fh:
        terms = [row[1] for row in list(csv.reader(fh))[1:lines + 1]]
    started = time.perf_counter()
    for n, term in enumerate(terms, start=1):
        resolve_line.apply_async((run, n, term), queue="perline")
    while True:
        with engine.connect() as conn:
            done = conn.execute(sa.text("SELECT count(*) FROM bench_perline WHERE run = :r"),
                                {"r": run}).scalar()
        if done >= len(terms):
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    worker.terminate()
    worker.wait(30)
    engine.dispose()
    return len(terms) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--perline-sample", type=int, default=2000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dxbench-"))
    claims = work / "claims.csv"
    sh([sys.executable, str(ROOT / "bench" / "generate_claims.py"), "--lines", str(args.lines),
        "-o", str(claims)], base_env())
    print(f"file: {args.lines:,} lines, {claims.stat().st_size / 1e6:.0f} MB", flush=True)

    admin = sa.create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    template = f"dxbench_tpl_{uuid.uuid4().hex[:6]}"
    tpl_url = create_db(admin, template)
    env = base_env(DXCODER_DATABASE_URL=tpl_url)
    assert sh([str(BIN / "dxcoder"), "db", "upgrade"], env).returncode == 0
    assert sh([str(BIN / "dxcoder"), "codeset", "load"], env).returncode == 0

    # Embedded template: load once, copy per run.
    sqlite_tpl = work / "tpl"
    sqlite_tpl.mkdir()
    assert sh([str(BIN / "dxcoder"), "codeset", "load"],
              base_env(DXCODER_DATA_DIR=str(sqlite_tpl))).returncode == 0

    figures: dict[str, Any] = {"lines": args.lines, "runs": args.runs}
    floors, runs, dists, run_rss, prod_rss, worker_rss, p50s, p95s = [], [], [], [], [], [], [], []
    for n in range(args.runs):
        floors.append(args.lines / floor(claims, tpl_url))

        data = work / f"run{n}"
        shutil.copytree(sqlite_tpl, data)
        elapsed, rss, done = timed_rss([str(BIN / "dxcoder"), "run", str(claims), "-o",
                                        str(work / "out.csv"), "--quiet"],
                                       base_env(DXCODER_DATA_DIR=str(data)))
        assert done.returncode in (0, 1), done.stderr
        runs.append(args.lines / elapsed)
        run_rss.append(rss)

        url = create_db(admin, f"dxbench_{n}", template)
        queue = f"dxbench.{uuid.uuid4().hex[:6]}"
        wenv = base_env(DXCODER_DATABASE_URL=url, DXCODER_BROKER_URL=BROKER, DXCODER_QUEUE=queue)
        worker = subprocess.Popen([str(BIN / "celery"), "-A", "tasks", "worker", "-Q", queue, "-c",
                                   "2", "--pool", "prefork", "--without-gossip",
                                   "--without-mingle"], env=wenv, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(8)  # worker up and its index preloaded before the clock starts
        elapsed, rss, done = timed_rss([str(BIN / "dxcoder"), "submit", str(claims), "--wait"],
                                       wenv)
        assert done.returncode in (0, 1), done.stderr
        dists.append(args.lines / elapsed)
        prod_rss.append(rss)
        job = done.stdout.strip()
        metrics = json.loads(sh([str(BIN / "dxcoder"), "metrics", job, "--json"], wenv).stdout)
        p50s.append(metrics["task_ms_p50"])
        p95s.append(metrics["task_ms_p95"])
        worker_rss.append(max(high_water_kib(pid) for pid in process_tree(worker.pid)))
        worker.terminate()
        worker.wait(60)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "dxbench_{n}" WITH (FORCE)')
        forget_queue(queue)
        print(f"run {n + 1}: floor {floors[-1]:,.0f}  run {runs[-1]:,.0f}  "
              f"submit {dists[-1]:,.0f} lines/s", flush=True)

    per_line = perline(claims, tpl_url, args.perline_sample)
    med = statistics.median
    figures.update({
        "floor_lines_per_s": med(floors), "run_lines_per_s": med(runs),
        "submit_lines_per_s": med(dists), "perline_lines_per_s": per_line,
        "run_vs_floor": med(floors) / med(runs), "submit_vs_floor": med(floors) / med(dists),
        "run_vs_perline": med(runs) / per_line, "submit_vs_perline": med(dists) / per_line,
        "task_ms_p50": med(p50s), "task_ms_p95": med(p95s),
        "peak_rss_mb": {"run": med(run_rss) / 1024, "producer": med(prod_rss) / 1024,
                        "worker_largest_process": med(worker_rss) / 1024},
        "samples": {"floor": floors, "run": runs, "submit": dists},
    })
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    (OUT / "pipeline.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
