"""Data lifecycle at scale on PostgreSQL: purge time, submit and export with the tables full.

    .venv/bin/python bench/bench_lifecycle.py                         # 50 jobs x 200,000 lines
    .venv/bin/python bench/bench_lifecycle.py --jobs 10 --lines 20000 # a quick, reduced run

Two throwaway databases on the shared server, both at the migration head:
- `full` holds --jobs finished jobs of --lines staged lines and results each (written with
  INSERT .. SELECT into each job's partitions, as the pipeline would leave them);
- `empty` holds one such job (the one exported there) and nothing else.

Measured, medians of --runs runs, with the ratios against the baseline of the same run:
- submit: `producer.stage_file(file)` of a --lines CSV (stream, COPY into input_line,
  job, partitions and chunks, one transaction) on `full` vs `empty` (goal: under 10% slower);
- export: `export.export_results(job)` of one job to /dev/null on `full` vs `empty` (should not
  depend on how many rows the tables hold);
- purge: `jobs purge` of the oldest half of the jobs on `full` (DETACH + DROP of partitions),
  total and per job.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from worker import db, migrate  # noqa: E402
from worker import settings as settings_module  # noqa: E402
from worker.lifecycle import partitions, purge  # noqa: E402
from worker.pipeline import export, producer  # noqa: E402
from worker.settings import Settings  # noqa: E402

PG_SERVER = os.environ.get("DXCODER_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")


def use(url: str, data_dir: Path) -> None:
    db.dispose()
    settings_module.configure(Settings.from_env(environ={}, database_url=url,
                                                data_dir=str(data_dir)))


def admin() -> sa.Engine:
    return sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")


def seed_job(job_no: int, lines: int, age_days: int) -> str:
    """One finished job with `lines` staged lines and results, in its own partitions."""
    job_id = uuid.uuid4().hex
    engine = db.get_engine()
    partitions.prepare_job(engine, job_id)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO job (id, name, source_file, content_hash, format, status, total_lines,"
            " chunk_count, chunks_done, created_at, finished_at, summary) VALUES (:id, :name, "
            ":name, md5(:id) || md5(:id), 'csv', 'done', :n, 1, 1, "
            "now() - make_interval(days => :age), now() - make_interval(days => :age), "
            "'{\"lines\": 0}')"),
            {"id": job_id, "name": f"bench-{job_no}.csv", "n": lines, "age": age_days})
        conn.execute(sa.text(
            "INSERT INTO input_line SELECT :id, g, 'C' || g, 'E11.9', 'auto', DATE '2025-03-01',"
            " '{\"payer\": \"AETNA\"}', '' FROM generate_series(2, :n + 1) g"),
            {"id": job_id, "n": lines})
        conn.execute(sa.text(
            "INSERT INTO result (job_id, line_no, entry_id, input, status, code, description, "
            "method, confidence, code_set, alternatives, message, date_of_service, resolved_at)"
            " SELECT :id, g, 'C' || g, 'E11.9', 'resolved', 'E11.9', "
            "'Type 2 diabetes mellitus without complications', 'code_exact', 1.0, 'FY2025', '',"
            " '', DATE '2025-03-01', now() FROM generate_series(2, :n + 1) g"),
            {"id": job_id, "n": lines})
        conn.execute(sa.text(
            "INSERT INTO chunk (job_id, chunk_no, first_line, last_line, status, attempts, "
            "last_error) VALUES (:id, 1, 2, :n + 1, 'done', 1, '')"), {"id": job_id, "n": lines})
    return job_id


def claims_csv(path: Path, lines: int) -> Path:
    with path.open("w") as fh:
        fh.write("id,term,date_of_service,payer\n")
        for n in range(lines):
            fh.write(f"C{n:09d},E11.9,2025-03-01,AETNA\n")
    return path


def time_submit(url: str, data_dir: Path, path: Path) -> float:
    use(url, data_dir)
    started = time.perf_counter()
    submitted = producer.stage_file(path, force=True)
    took = time.perf_counter() - started
    producer.discard_job(submitted.job_id)  # keep the database as it was (partitions too)
    return took


def time_export(url: str, data_dir: Path, job_id: str) -> float:
    use(url, data_dir)
    with open(os.devnull, "w") as sink:
        started = time.perf_counter()
        count = export.export_results(job_id, sink, "csv")
        took = time.perf_counter() - started
    assert count > 0
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--lines", type=int, default=200_000, help="lines per job")
    parser.add_argument("--purge", type=int, help="oldest jobs purged (default: half)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the databases (names printed)")
    args = parser.parse_args()
    purge_count = args.purge if args.purge is not None else args.jobs // 2
    tag = uuid.uuid4().hex[:8]
    names = {"full": f"dxcoder_bench_full_{tag}", "empty": f"dxcoder_bench_empty_{tag}"}
    data_dir = Path(f"/tmp/dxcoder-bench-lifecycle-{tag}")
    data_dir.mkdir(mode=0o700)
    engine = admin()
    for name in names.values():
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    urls = {key: f"{PG_SERVER}/{name}" for key, name in names.items()}
    out: dict[str, object] = {"jobs": args.jobs, "lines": args.lines, "runs": args.runs}
    try:
        for url in urls.values():
            use(url, data_dir)
            migrate.upgrade()
        use(urls["full"], data_dir)
        started = time.perf_counter()
        # The oldest jobs are past a 90-day retention, the others recent.
        full_jobs = [seed_job(n, args.lines, 200 - n if n < purge_count else 10)
                     for n in range(args.jobs)]
        with db.get_engine().begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        out["seed_s"] = round(time.perf_counter() - started, 1)
        use(urls["empty"], data_dir)
        empty_job = seed_job(0, args.lines, 10)
        with db.get_engine().begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        print(f"seeded {args.jobs} x {args.lines:,} lines in {out['seed_s']} s", file=sys.stderr)

        csv_path = claims_csv(data_dir / "claims.csv", args.lines)
        submit = {"full": [], "empty": []}  # type: dict[str, list[float]]
        export = {"full": [], "empty": []}  # type: dict[str, list[float]]
        exported = full_jobs[-1]  # a recent job: it stays through the purge
        for _ in range(args.runs):  # alternated, so drift on a shared machine hits both alike
            for key in ("empty", "full"):
                submit[key].append(time_submit(urls[key], data_dir, csv_path))
                export[key].append(time_export(urls[key], data_dir,
                                               exported if key == "full" else empty_job))
        for name, samples in (("submit", submit), ("export", export)):
            full, empty = statistics.median(samples["full"]), statistics.median(samples["empty"])
            out[name] = {"full_s": round(full, 3), "empty_s": round(empty, 3),
                         "full_vs_empty": round(full / empty, 3),
                         "lines_per_s_full": round(args.lines / full),
                         "lines_per_s_empty": round(args.lines / empty),
                         "samples_full": [round(x, 3) for x in samples["full"]],
                         "samples_empty": [round(x, 3) for x in samples["empty"]]}
            print(f"{name}: full {full:.2f} s, empty {empty:.2f} s, "
                  f"ratio {full / empty:.3f}", file=sys.stderr)

        use(urls["full"], data_dir)
        import datetime as dt

        started = time.perf_counter()
        report = purge.purge_jobs(older_than=dt.timedelta(days=90), trigger="bench")
        took = time.perf_counter() - started
        removed = report.totals()
        assert len(report.jobs) == purge_count, (len(report.jobs), purge_count)
        out["purge"] = {"jobs": len(report.jobs), "seconds": round(took, 2),
                        "per_job_s": round(took / max(len(report.jobs), 1), 3),
                        "rows_removed": removed}
        print(f"purge: {len(report.jobs)} jobs ({sum(removed.values()):,} rows) in {took:.2f} s",
              file=sys.stderr)
        out["export_after_purge_s"] = round(time_export(urls["full"], data_dir, exported), 3)
    finally:
        db.dispose()
        if not args.keep:
            for name in names.values():
                with engine.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for path in data_dir.glob("*"):
            path.unlink()
        data_dir.rmdir()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
