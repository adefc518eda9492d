"""Chaos soak: random faults over many concurrent jobs; nothing lost, doubled or mismatched.

    make chaos                       # CHAOS_MINUTES=10 CHAOS_SEED=1 CHAOS_SETTLE=600
    .venv/bin/python bench/chaos.py --minutes 3 --seed 2

On a throwaway PostgreSQL and Redis (free ports; the shared servers are never touched) it runs
two prefork workers (`-c 2`; the second reaches PostgreSQL and Redis through TCP proxies the
soak can blackhole), beat (reconciler, inbox polling), producers submitting a stream of claims
files of mixed sizes, files dropped into an inbox, and recoding runs after an approved mapping
changes. While it runs it injects faults at random times: SIGKILL of a pool child, a worker,
beat or a producer part-way through staging; SIGSTOP of a worker for 30-90 s; Redis restarted
empty; PostgreSQL restarted with fast and with immediate shutdown; Redis driven to its
maxmemory; a worker partitioned from PostgreSQL or Redis.

Then faults stop and the system gets CHAOS_SETTLE seconds to finish. Every job a producer was
told about, and every inbox file, must be done with exactly one result per input line, exported
byte for byte as the embedded run of the same file exports it (after one last recoding run, so
the approved mapping is in both); no chunk may be left queued or running; every recoding run
must have finished. The last line reads

    chaos: F faults (by kind), J jobs, L lines, lost 0, doubled 0, mismatched 0, settle S s

and the exit status is 1 on any loss, doubling, mismatch, unfinished job or stuck chunk. The
fault schedule comes from the seed: a failing seed replays the same faults at the same times.
Scratch files (logs included) stay in the printed directory when the soak fails.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.bench_edits import claims_file  # noqa: E402
from bench.chaosparts import BIN, Proxy, Service, dxcoder, wait_for  # noqa: E402
from tests.servers import ThrowawayPostgres, ThrowawayRedis  # noqa: E402

CELERY = str(BIN / "celery")
SIZES = (200, 800, 2500, 6000, 15000)  # lines per file: the mix of a night's submissions
MAPPED_TERM = "chaos flurbonic syndrome"  # unknown until the soak approves a mapping for it
MAPPED_CODE = "R69"
KINDS = ("kill_pool_child", "kill_worker", "kill_beat", "kill_producer", "stop_worker",
         "restart_redis", "restart_pg_fast", "restart_pg_immediate", "redis_maxmemory",
         "partition_pg", "partition_redis")


@dataclasses.dataclass
class Fault:
    at: float  # seconds after the soak starts
    kind: str
    seconds: float  # how long a stop, partition or full memory lasts
    pick: float  # which worker, child or producer (a fraction, so the schedule replays)


def schedule(seed: int, minutes: float) -> list[Fault]:
    rng = random.Random(seed)
    faults, at = [], rng.uniform(10, 20)
    while at < minutes * 60:
        kind = rng.choice(KINDS)
        faults.append(Fault(round(at, 1), kind, round(rng.uniform(30, 90) if kind == "stop_worker"
                                                      else rng.uniform(15, 45), 1), rng.random()))
        at += rng.uniform(8, 25)
    return faults


class Soak:
    def __init__(self, seed: int, minutes: float, settle: float, scratch: Path) -> None:
        self.seed, self.minutes, self.settle_limit, self.scratch = seed, minutes, settle, scratch
        self.rng = random.Random(seed + 1)
        self.inbox = scratch / "inbox"
        self.files: list[Path] = []
        self.jobs: dict[str, Path] = {}  # job id a producer printed -> its file
        self.dropped: dict[str, Path] = {}  # inbox file name -> its source file
        self.faults: collections.Counter[str] = collections.Counter()
        self.notes: list[str] = []
        self.producers: list[tuple[subprocess.Popen[str], Path]] = []
        self.resubmit: list[Path] = []
        self.lock = threading.Lock()
        self.stop_faults = threading.Event()

    # -- set-up ---------------------------------------------------------------------------
    def start(self) -> None:
        self.pg = ThrowawayPostgres(max_connections=120).init()
        self.redis = ThrowawayRedis().start()
        self.pg_proxy, self.redis_proxy = Proxy(self.pg.port), Proxy(self.redis.port)
        self.inbox.mkdir(mode=0o700)
        base = {k: v for k, v in os.environ.items() if not k.startswith("DXCODER_")}
        base.update({
            "DXCODER_DATA_DIR": str(self.scratch / "data"), "DXCODER_LOG_FORMAT": "json",
            "DXCODER_LOG_LEVEL": "WARNING", "DXCODER_CHUNK_SIZE": "500",
            # Recovery within the soak's minutes: a lost chunk is re-sent a minute or so after
            # its lease, not after the production defaults' several.
            "DXCODER_TASK_SOFT_TIME_LIMIT": "50", "DXCODER_TASK_TIME_LIMIT": "60",
            "DXCODER_LEASE_SECONDS": "120", "DXCODER_LEASE_MARGIN": "15",
            "DXCODER_VISIBILITY_TIMEOUT": "600",
            "DXCODER_RECONCILE_INTERVAL": "10", "DXCODER_INBOX_DIR": str(self.inbox),
            "DXCODER_INBOX_POLL_INTERVAL": "5", "DXCODER_INBOX_SETTLE_SECONDS": "2",
            "PYTHONPATH": str(ROOT)})
        self.env = {**base, "DXCODER_DATABASE_URL": self.pg.url,
                    "DXCODER_BROKER_URL": self.redis.url, "DXCODER_REDIS_URL": self.redis.url}
        proxied_pg = self.pg.url.replace(f":{self.pg.port}/", f":{self.pg_proxy.port}/")
        proxied_redis = self.redis.url.replace(f":{self.redis.port}/", f":{self.redis_proxy.port}/")
        proxied = {**base, "DXCODER_DATABASE_URL": proxied_pg,
                   "DXCODER_BROKER_URL": proxied_redis, "DXCODER_REDIS_URL": proxied_redis}
        for args in (("db", "upgrade"), ("codeset", "load")):
            done = dxcoder(*args, env=self.env, timeout=1800)
            if done.returncode != 0:
                raise SystemExit(f"chaos: dxcoder {' '.join(args)} failed: {done.stderr[-2000:]}")
        for n, lines in enumerate(SIZES):
            path = claims_file(self.scratch / f"claims-{lines}.csv", lines, self.seed * 100 + n)
            with path.open("a") as fh:  # lines the approved mapping (and the recoding) change
                fh.write(f"X{n},M{n}-1,{MAPPED_TERM},,2026-01-05,PAYER\n")
            os.chmod(path, 0o600)
            self.files.append(path)
        worker_args = [CELERY, "-A", "tasks", "worker", "-Q", "dxcoder.resolve", "--pool",
                       "prefork", "-c", "2", "--without-mingle", "--without-gossip"]
        self.workers = [
            Service("worker-a", [*worker_args, "-n", "chaos-a@%h"], self.env,
                    self.scratch / "worker-a.log"),
            Service("worker-b", [*worker_args, "-n", "chaos-b@%h"], proxied,
                    self.scratch / "worker-b.log")]
        self.beat = Service("beat", [CELERY, "-A", "tasks", "beat", "-s",
                                     str(self.scratch / "beat-schedule")], self.env,
                            self.scratch / "beat.log")
        for service in (*self.workers, self.beat):
            service.start()

    # -- load -----------------------------------------------------------------------------
    def produce(self, until: float) -> None:
        """Keep two producers submitting, and drop a file into the inbox now and then."""
        drops = 0
        next_drop = time.monotonic() + 15
        while time.monotonic() < until:
            with self.lock:
                for process, path in list(self.producers):
                    if process.poll() is None:
                        continue
                    self.producers.remove((process, path))
                    out = (process.stdout.read() if process.stdout else "").strip().splitlines()
                    if process.returncode == 0 and out:
                        self.jobs[out[-1].strip()] = path
                    else:  # killed, or refused while a server was down: the sender retries
                        self.resubmit.append(path)
                while len(self.producers) < 2:
                    path = (self.resubmit.pop(0) if self.resubmit
                            else self.rng.choice(self.files))
                    self.producers.append((subprocess.Popen(
                        [str(BIN / "dxcoder"), "submit", str(path), "--force"], env=self.env,
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                        start_new_session=True), path))
            if time.monotonic() >= next_drop:
                drops += 1
                name = f"drop-{drops:03d}.csv"
                # Content of its own (the inbox refuses a file it has already submitted).
                source = claims_file(self.scratch / name, self.rng.choice(SIZES[:3]),
                                     self.seed * 1000 + drops)
                os.chmod(source, 0o600)
                temporary = self.inbox / f".{name}.part"
                shutil.copyfile(source, temporary)
                temporary.rename(self.inbox / name)
                self.dropped[name] = source
                next_drop = time.monotonic() + self.rng.uniform(20, 40)
            time.sleep(1)

    def approve_mapping_and_recode(self) -> None:
        done = dxcoder("override", "add", MAPPED_TERM, MAPPED_CODE, "--note", "chaos soak",
                       env=self.env)
        if done.returncode != 0:
            self.notes.append(f"override add failed (a server was down?): {done.stderr[-300:]}")
        done = dxcoder("recode", "run", env=self.env)
        if done.returncode != 0:
            self.notes.append(f"recode run failed to start: {done.stderr[-300:]}")

    # -- faults ---------------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        kind = fault.kind
        if kind == "kill_pool_child":
            children = [(w, pid) for w in self.workers for pid in w.children()]
            if not children:
                return
            _, pid = children[int(fault.pick * len(children))]
            _kill(pid)
        elif kind == "kill_worker":
            worker = self.workers[int(fault.pick * 2)]
            worker.kill()
            self._later(self.rng.uniform(1, 5), worker.start)
        elif kind == "kill_beat":
            self.beat.kill()
            self._later(self.rng.uniform(1, 5), self.beat.start)
        elif kind == "kill_producer":
            with self.lock:
                running = [p for p in self.producers if p[0].poll() is None]
                if not running:
                    return
                _kill(running[int(fault.pick * len(running))][0].pid)
        elif kind == "stop_worker":
            worker = self.workers[int(fault.pick * 2)]
            worker.signal_group(signal.SIGSTOP)
            self._later(fault.seconds, lambda: worker.signal_group(signal.SIGCONT))
        elif kind == "restart_redis":
            self.redis.stop()
            self.redis.start()
        elif kind in ("restart_pg_fast", "restart_pg_immediate"):
            self.pg.stop("fast" if kind.endswith("fast") else "immediate")
            self.pg.start()
        elif kind == "redis_maxmemory":
            self._redis("CONFIG", "SET", "maxmemory-policy", "noeviction")
            used = self._redis("INFO", "memory")
            current = next((int(line.split(":")[1]) for line in used.splitlines()
                            if line.startswith("used_memory:")), 1 << 20)
            self._redis("CONFIG", "SET", "maxmemory", str(current + 64 * 1024))
            self._later(fault.seconds, lambda: self._redis("CONFIG", "SET", "maxmemory", "0"))
        elif kind in ("partition_pg", "partition_redis"):
            proxy = self.pg_proxy if kind == "partition_pg" else self.redis_proxy
            proxy.blackhole()
            self._later(fault.seconds, proxy.heal)
        self.faults[kind] += 1

    def _redis(self, *args: str) -> str:
        done = subprocess.run(["redis-cli", "-p", str(self.redis.port), *args],
                              capture_output=True, text=True, timeout=10, check=False)
        return done.stdout

    def _later(self, seconds: float, action) -> None:  # type: ignore[no-untyped-def]
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()
        self._timers.append((timer, action))

    def run_faults(self, faults: list[Fault], started: float) -> None:
        self._timers: list[tuple[threading.Timer, object]] = []
        recode_at = self.minutes * 60 / 2
        recoded = False
        for fault in faults:
            while time.monotonic() - started < fault.at:
                if not recoded and time.monotonic() - started >= recode_at:
                    recoded = True
                    self.approve_mapping_and_recode()
                time.sleep(0.5)
            try:
                self.inject(fault)
            except Exception as exc:  # a fault that could not be injected is reported
                self.notes.append(f"{fault.kind} at {fault.at}s not injected: {exc}")
        if not recoded:
            self.approve_mapping_and_recode()

    def calm(self) -> None:
        """Faults stop: pending restores happen now, and anything down starts again."""
        for timer, action in self._timers:
            if timer.is_alive():
                timer.cancel()
                action()  # type: ignore[operator]
        self.pg_proxy.heal()
        self.redis_proxy.heal()
        if self.redis.process is None or self.redis.process.poll() is not None:
            self.redis.start()
        self._redis("CONFIG", "SET", "maxmemory", "0")
        for service in (*self.workers, self.beat):
            service.signal_group(signal.SIGCONT)
            if not service.alive():
                service.start()

    # -- settle and check -----------------------------------------------------------------
    def settle(self) -> float:
        started = time.monotonic()
        wait_for(lambda: all(p.poll() is not None for p, _ in self.producers), 300)
        self.produce(time.monotonic())  # collect the last producers' job ids
        while self.resubmit:  # what a killed producer never submitted, the sender sends again
            path = self.resubmit.pop(0)
            done = dxcoder("submit", str(path), "--force", env=self.env)
            if done.returncode == 0:
                self.jobs[done.stdout.strip().splitlines()[-1]] = path
            else:
                self.resubmit.append(path)
                time.sleep(5)
        engine = self.engine = sa.create_engine(self.pg.url)

        def finished() -> bool:
            with engine.connect() as connection:
                jobs = dict(connection.execute(sa.text("SELECT id, status FROM job")).all())
                inbox = dict(connection.execute(sa.text(
                    "SELECT name, job_id FROM inbox_file")).all())
                runs = connection.execute(sa.text(
                    "SELECT count(*) FROM recode_run WHERE status = 'running'")).scalar_one()
            inbox_jobs = [inbox.get(name) for name in self.dropped]
            return (all(jobs.get(j) == "done" for j in self.jobs)
                    and all(j is not None and jobs.get(j) == "done" for j in inbox_jobs)
                    and runs == 0)

        settled = wait_for(finished, self.settle_limit, step=3)
        if not settled:
            self.notes.append(f"not settled within {self.settle_limit:.0f} s")
        return time.monotonic() - started

    def check(self) -> dict[str, int]:
        # One last recoding run with no faults, so every job has the approved mapping, as the
        # embedded reference runs below do.
        # The mapping again, in case a fault refused it: the reference runs have it.
        again = dxcoder("override", "add", MAPPED_TERM, MAPPED_CODE, "--note", "chaos soak",
                        env=self.env)
        if again.returncode != 0:
            self.notes.append(f"override add failed after the faults: {again.stderr[-300:]}")
        final = dxcoder("recode", "run", "--wait", env=self.env, timeout=1800)
        if final.returncode != 0:
            self.notes.append(f"final recode run failed: {final.stderr[-500:]}")
        reference_env = {**self.env, "DXCODER_DATA_DIR": str(self.scratch / "embedded")}
        reference_env.pop("DXCODER_DATABASE_URL")
        for args in (("codeset", "load"), ("override", "add", MAPPED_TERM, MAPPED_CODE)):
            done = dxcoder(*args, env=reference_env, timeout=1800)
            if done.returncode != 0:
                raise SystemExit(f"chaos: embedded {' '.join(args)} failed: {done.stderr[-1000:]}")
        references: dict[Path, list[str]] = {}
        for path in (*self.files, *self.dropped.values()):
            out = self.scratch / f"{path.stem}.embedded.csv"
            done = dxcoder("run", str(path), "-o", str(out), "--quiet", env=reference_env)
            if done.returncode not in (0, 1):
                raise SystemExit(f"chaos: embedded run failed: {done.stderr[-1000:]}")
            references[path] = out.read_text().splitlines()
        with self.engine.connect() as connection:
            inbox = dict(connection.execute(sa.text("SELECT name, job_id FROM inbox_file")).all())
            stuck = connection.execute(sa.text(
                "SELECT count(*) FROM chunk c JOIN job j ON j.id = c.job_id "
                "WHERE c.status IN ('queued', 'running') AND j.status <> 'staging'")).scalar_one()
            stuck += connection.execute(sa.text(
                "SELECT count(*) FROM recode_chunk WHERE status IN ('queued', 'running')"
            )).scalar_one()
            unfinished_runs = connection.execute(sa.text(
                "SELECT count(*) FROM recode_run WHERE status <> 'done'")).scalar_one()
            abandoned = connection.execute(sa.text(
                "SELECT count(*) FROM job WHERE status = 'staging'")).scalar_one()
        if abandoned:
            self.notes.append(f"{abandoned} job(s) still staging: producers killed part-way "
                              "(never acknowledged; the reconciler deletes them after 6 h)")
        if stuck:
            self.notes.extend(self.stuck_report())
        jobs = dict(self.jobs)
        for name, source in self.dropped.items():
            if inbox.get(name):
                jobs[inbox[name]] = source
            else:
                self.notes.append(f"inbox file {name} has no job")
        totals = collections.Counter(stuck=stuck, unfinished_runs=unfinished_runs,
                                     unfinished=sum(1 for n in self.dropped if not inbox.get(n)))
        for job_id, source in jobs.items():
            out = self.scratch / f"{job_id}.csv"
            done = dxcoder("results", job_id, "-o", str(out), env=self.env)
            expected = references[source]
            if done.returncode != 0:
                totals["unfinished"] += 1
                totals["lost"] += len(expected) - 1
                self.notes.append(f"job {job_id}: results failed: {done.stderr.strip()[-200:]}")
                continue
            got = out.read_text().splitlines()
            totals["lines"] += len(expected) - 1
            header, rows = got[:1], got[1:]
            if header != expected[:1]:
                self.notes.append(f"job {job_id}: header differs")
            by_line = collections.Counter(row.split(",", 1)[0] for row in rows)
            want = {row.split(",", 1)[0]: row for row in expected[1:]}
            totals["doubled"] += sum(n - 1 for n in by_line.values() if n > 1)
            totals["lost"] += sum(1 for line_no in want if line_no not in by_line)
            totals["mismatched"] += sum(1 for row in set(rows) - set(expected[1:])
                                        if row.split(",", 1)[0] in want)
            out.unlink()
        totals["jobs"] = len(jobs)
        return dict(totals)

    def stuck_report(self) -> list[str]:
        """What the chunks left queued or running look like (ids, states and times only)."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT j.status, c.status, count(*), min(c.attempts), max(c.attempts), "
                "min(c.enqueued_at), max(c.lease_until), max(left(c.last_error, 80)) "
                "FROM chunk c JOIN job j ON j.id = c.job_id "
                "WHERE c.status IN ('queued', 'running') GROUP BY j.status, c.status")).all()
            now = connection.execute(sa.text("SELECT now()")).scalar_one()
        return [f"stuck at {now:%H:%M:%S}: job {r[0]}, chunk {r[1]}: {r[2]} chunks, attempts "
                f"{r[3]}-{r[4]}, first sent {r[5]:%H:%M:%S}, lease until {r[6]:%H:%M:%S}, "
                f"last error {r[7]!r}" for r in rows]

    def close(self) -> None:
        for service in (*self.workers, self.beat):
            service.stop()
        with self.lock:
            for process, _ in self.producers:
                _kill(process.pid)
        self.pg_proxy.close()
        self.redis_proxy.close()
        getattr(self, "engine", sa.create_engine("sqlite://")).dispose()
        self.redis.destroy()
        self.pg.destroy()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("CHAOS_MINUTES", 10)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", 1)))
    parser.add_argument("--settle", type=float, default=float(os.environ.get("CHAOS_SETTLE", 600)))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix=f"dxchaos-{args.seed}-"))
    os.chmod(scratch, 0o700)
    faults = schedule(args.seed, args.minutes)
    print(f"chaos: seed {args.seed}, {args.minutes:g} min, {len(faults)} faults scheduled; "
          f"scratch {scratch}", file=sys.stderr)
    soak = Soak(args.seed, args.minutes, args.settle, scratch)
    ok = False
    try:
        soak.start()
        started = time.monotonic()
        load = threading.Thread(target=soak.produce, args=(started + args.minutes * 60,),
                                daemon=True)
        load.start()
        soak.run_faults(faults, started)
        load.join()
        soak.calm()
        settle = soak.settle()
        totals = soak.check()
        bad = sum(totals.get(k, 0) for k in ("lost", "doubled", "mismatched", "stuck",
                                             "unfinished", "unfinished_runs"))
        ok = bad == 0
        for note in soak.notes:
            print(f"chaos: note: {note}", file=sys.stderr)
        if totals.get("stuck") or totals.get("unfinished") or totals.get("unfinished_runs"):
            print(f"chaos: stuck chunks {totals.get('stuck', 0)}, unfinished jobs "
                  f"{totals.get('unfinished', 0)}, unfinished recoding runs "
                  f"{totals.get('unfinished_runs', 0)}", file=sys.stderr)
        by_kind = ", ".join(f"{kind} {n}" for kind, n in sorted(soak.faults.items()))
        print(f"chaos: {sum(soak.faults.values())} faults ({by_kind}), {totals['jobs']} jobs, "
              f"{totals.get('lines', 0)} lines, lost {totals.get('lost', 0)}, doubled "
              f"{totals.get('doubled', 0)}, mismatched {totals.get('mismatched', 0)}, settle "
              f"{settle:.0f} s")
    finally:
        soak.close()
        if ok:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"chaos: logs and files kept in {scratch}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
