"""Staging time and the producer's peak memory for claims files of growing size (constant memory).

    .venv/bin/python bench/bench_ingest.py                 # 100k and 1M lines, median of 3 runs
    .venv/bin/python bench/bench_ingest.py --big-gb 2      # plus a ~2 GB file (1M lines repeated)

Each measurement runs `producer.stage_file(file)` (stream, COPY into input_line, job and
chunk rows, ten chunks per transaction, nothing sent) in a fresh Python process against a
throwaway PostgreSQL database on the shared server, and reports wall time and the process's
peak RSS (VmHWM). Flat RSS across sizes is what shows the file is streamed, not loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = os.environ.get("DXCODER_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")


def peak_rss_kb() -> int:
    """VmHWM of this process (Linux); falls back to getrusage's ru_maxrss (KiB on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def stage_once(path: Path, database_url: str) -> dict[str, float]:
    """Child-process side: stage the file once and report time, lines and peak RSS."""
    from worker import settings
    from worker.pipeline import producer

    settings.configure(settings.Settings.from_env(environ={}, database_url=database_url,
                                                  data_dir=str(ROOT / ".dxcoder")))
    baseline = peak_rss_kb()
    started = time.perf_counter()
    submitted = producer.stage_file(path, force=True)
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "lines": submitted.lines, "peak_rss_kb": peak_rss_kb(),
            "baseline_rss_kb": baseline}


def _measure(path: Path, database_url: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--stage", str(path), "--database-url",
                           database_url], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"staging {path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _truncate(database_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE job, chunk, input_line, result CASCADE")
    engine.dispose()


def _generate(lines: int, out: Path) -> Path:
    if not out.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate_claims.py"), "--lines",
                        str(lines), "-o", str(out)], check=True)
    return out


def _repeat(source: Path, out: Path, gigabytes: float) -> Path:
    """A file of about `gigabytes` GB: the source's data lines again and again, each with a new id."""
    target = int(gigabytes * 1024**3)
    if out.exists() and out.stat().st_size >= target:
        return out
    with source.open("rb") as fh:
        header, *body = fh.read().split(b"\n")
    body = [line for line in body if line]
    with out.open("wb") as fh:
        fh.write(header + b"\n")
        written, rep = 0, 0
        while written < target:
            rep += 1
            prefix = f"R{rep:05d}-".encode()
            block = b"".join(prefix + line + b"\n" for line in body)
            fh.write(block)
            written += len(block)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="100000,1000000",
                        help="Comma-separated line counts to generate (default: 100k and 1M).")
    parser.add_argument("--runs", type=int, default=3, help="Runs per small file (median shown).")
    parser.add_argument("--big-gb", type=float, default=0.0,
                        help="Also stage a file of about this many GB (one run); 0 = skip.")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage_once(args.stage, args.database_url)))
        return

    import sqlalchemy as sa

    from worker import db, migrate, settings

    args.workdir.mkdir(parents=True, exist_ok=True)
    name = f"dxcoder_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = f"{PG_SERVER}/{name}"
    try:
        settings.configure(settings.Settings.from_env(environ={}, database_url=url,
                                                      data_dir=str(args.workdir)))
        migrate.upgrade()
        db.dispose()
        files = [(_generate(n, args.workdir / f"claims-{n}.csv"), args.runs)
                 for n in (int(s) for s in args.sizes.split(","))]
        if args.big_gb:
            biggest = files[-1][0]
            files.append((_repeat(biggest, args.workdir / f"claims-{args.big_gb:g}gb.csv",
                                  args.big_gb), 1))
        print(f"{'file':<24}{'size MB':>10}{'lines':>13}{'staging s':>12}{'lines/s':>11}"
              f"{'peak RSS MB':>13}{'runs':>6}")
        for path, runs in files:
            measured = []
            for _ in range(runs):
                measured.append(_measure(path, url))
                _truncate(url)
            seconds = statistics.median(m["seconds"] for m in measured)
            rss = statistics.median(m["peak_rss_kb"] for m in measured) / 1024
            lines = int(measured[0]["lines"])
            print(f"{path.name:<24}{path.stat().st_size / 1e6:>10,.0f}{lines:>13,}"
                  f"{seconds:>12.1f}{lines / seconds:>11,.0f}{rss:>13.1f}{runs:>6}", flush=True)
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
