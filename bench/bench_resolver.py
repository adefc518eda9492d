"""Benchmark the resolver: accuracy on bench/eval, throughput, index load time and peak memory.

Usage (a database with the code sets loaded: `dxcoder codeset load`; DXCODER_* settings apply):

    .venv/bin/python bench/bench_resolver.py                 # 3 runs, table + bench/out/*.json
    .venv/bin/python bench/bench_resolver.py --runs 5
    .venv/bin/python bench/bench_resolver.py --accuracy      # accuracy only, one run, misses listed
    .venv/bin/python bench/bench_resolver.py --baseline      # also the issue's FTS5 bm25 baseline

Each run is a fresh process (`--child`), so index load time and peak RSS are those of a new
worker: it loads both releases, resolves the eval set, then times code entries and distinct
free-text terms in chunks of 2,000 entries, the way the pipeline calls the resolver. The parent
reports medians. The cold runs build the indexes from the database; then as many fresh
processes load them from the host cache the cold runs left (worker.resolver.cache).

Accuracy covers bench/eval/accuracy.csv and clinical.csv, reported per split: `dev`, and the
locked `test` split that is never tuned on (evalset.split_of; --accuracy lists dev misses only).

It also reports agreement with CMS's 2018 GEM over all 14,567 ICD-9-CM codes, and ICD-9-CM
titles typed as text (bench/gem_agreement.py, which runs alone too).

Top-1 counts the result's `code` (a `+` combination whole), whatever its status;
"resolved right" counts only `resolved` results; precision is right / all `resolved`. For free
text the bench also gives precision of `resolved` per method and per confidence band, and
sorts wrong `resolved` answers into the error classes of issue 16.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "eval"))

import gem_agreement  # noqa: E402  (bench/, beside this file)

CHUNK = 2000
STATUS_ORDER = ("resolved", "needs_review", "no_match", "invalid_input", "error")


# -- accuracy ------------------------------------------------------------------------------


# Confidence bands the precision of `resolved` is reported in.
BANDS = ((0.0, 0.72), (0.72, 0.80), (0.80, 0.90), (0.90, 0.97), (0.97, 1.01))
# The error classes (16) a wrong `resolved` answer is sorted into.
ERROR_CLASSES = ("1 qualifier contradicts", "2 qualifier not used", "3 guideline combination",
                 "4 several diagnoses", "5 uncertain or negated", "6 wrong chapter", "other")
FREE_TEXT = ("colloquial", "abbreviation", "misspelling", "clinical", "rephrased")


def error_class(row: Any, code: str, titles: dict[str, str]) -> str:
    """Which of the issue's classes a wrong `resolved` answer falls in (from the truth and the
    two titles, the way a reviewer would sort it)."""
    from worker.resolver import qualifiers as q

    if row.expects_status:
        return "5 uncertain or negated"
    if "+" in row.expected or "+" in code:
        return ("3 guideline combination" if "Guidelines I.C" in row.source
                else "4 several diagnoses")
    want, got = row.expected, code
    want_q = q.of_title(want, titles.get(want, ""))
    got_q = q.of_title(got, titles.get(got, ""))
    if q.chapter_mismatch(want_q, got_q):
        return "6 wrong chapter"
    if (want_q.side, want_q.encounter, want_q.acuity, want_q.trimester, want_q.stage) != \
            (got_q.side, got_q.encounter, got_q.acuity, got_q.trimester, got_q.stage):
        return "2 qualifier not used"
    if q.conflict(want_q, got_q) or q.conflict(got_q, want_q):
        return "1 qualifier contradicts"
    return "other"


def exposed_classes(row: Any) -> list[str]:
    """The error classes of issue 16 a free-text row can fall into, from its entry and truth:
    the denominator of precision per class (a wrong answer is sorted by error_class)."""
    from worker.resolver import qualifiers as q
    from worker.resolver.normalize import text_key

    stated = q.of_entry(text_key(row.input))
    found = []
    if stated.with_ or stated.without or stated.history or stated.exposure \
            or stated.congenital or stated.acquired or stated.other:
        found.append(ERROR_CLASSES[0])
    if stated.side or stated.encounter or stated.acuity or stated.trimester or stated.stage:
        found.append(ERROR_CLASSES[1])
    if "Guidelines I.C" in row.source:
        found.append(ERROR_CLASSES[2])
    elif "+" in row.expected:
        found.append(ERROR_CLASSES[3])
    if stated.negated or stated.uncertain or row.expects_status:
        found.append(ERROR_CLASSES[4])
    if not (stated.congenital or stated.perinatal or stated.pregnancy):
        found.append(ERROR_CLASSES[5])
    return found


def _rate(right: int, total: int) -> float | None:
    return round(right / total, 4) if total else None


def accuracy(show_misses: bool = False) -> dict[str, Any]:
    """Accuracy on accuracy.csv and clinical.csv, per split (dev, and the locked test split)."""
    from evalset import load_all

    from worker.contract import Entry
    from worker.resolver import get_resolver

    rows = load_all()
    entries = [Entry(line_no=i, term=row.input, system=row.system,
                     date_of_service=row.date_of_service) for i, row in enumerate(rows)]
    resolver = get_resolver()
    results = resolver.resolve(entries)
    titles = resolver._table(resolver.release_labels()[-1]).titles
    report: dict[str, Any] = {"rows": len(rows), "splits": {}, "misses": []}
    for split in ("dev", "test"):
        per: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        methods: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        bands: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        classes: collections.Counter[str] = collections.Counter()
        exposed: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        statuses: collections.Counter[str] = collections.Counter()
        for row, result in zip(rows, results, strict=True):
            if row.split != split:
                continue
            tally = per[row.category]
            tally["rows"] += 1
            statuses[result.status] += 1
            tally[f"status_{result.status}"] += 1
            answer = result.status if row.expects_status else result.code
            right = answer in row.accepted
            tally["top1"] += right
            if result.status == "resolved":
                tally["resolved"] += 1
                tally["resolved_right"] += right
                if row.category in FREE_TEXT:
                    methods[result.method][0] += 1
                    methods[result.method][1] += right
                    band = next(f"{lo:.2f}-{min(hi, 1.0):.2f}" for lo, hi in BANDS
                                if lo <= result.confidence < hi)
                    bands[band][0] += 1
                    bands[band][1] += right
                    if not right:
                        classes[error_class(row, result.code, titles)] += 1
                    for name in exposed_classes(row):
                        exposed[name][0] += 1
                        exposed[name][1] += right
            if not right and show_misses and split == "dev":  # the test split stays unseen
                report["misses"].append(
                    f"{split:<5}{row.category:<12} {row.input[:45]!r:<48} want {row.expected:<13} "
                    f"got {result.status:<12} {result.code:<10} {result.method:<15} "
                    f"{result.confidence:.2f}  alt={result.alternatives[:40]}")
        categories = {}
        for category, tally in sorted(per.items()):
            categories[category] = {
                "rows": tally["rows"],
                "top1": round(tally["top1"] / tally["rows"], 4),
                "resolved_right": round(tally["resolved_right"] / tally["rows"], 4),
                "precision_resolved": _rate(tally["resolved_right"], tally["resolved"]),
                "statuses": {s: tally[f"status_{s}"] for s in STATUS_ORDER
                             if tally[f"status_{s}"]},
            }
        free = [per[c] for c in FREE_TEXT if c in per]
        resolved = sum(t["resolved"] for t in per.values())
        resolved_right = sum(t["resolved_right"] for t in per.values())
        count = sum(t["rows"] for t in per.values())
        report["splits"][split] = {
            "rows": count,
            "categories": categories,
            "precision_resolved": _rate(resolved_right, resolved),
            "precision_resolved_free_text": _rate(sum(t["resolved_right"] for t in free),
                                                  sum(t["resolved"] for t in free)),
            "top1_free_text": _rate(sum(t["top1"] for t in free), sum(t["rows"] for t in free)),
            "resolved_share": _rate(resolved, count),
            "statuses": {s: statuses[s] for s in STATUS_ORDER if statuses[s]},
            "free_text_by_method": {m: {"resolved": v[0], "precision": _rate(v[1], v[0])}
                                    for m, v in sorted(methods.items())},
            "free_text_by_band": {b: {"resolved": v[0], "precision": _rate(v[1], v[0])}
                                  for b, v in sorted(bands.items())},
            "free_text_wrong_resolved_by_class": {c: classes[c] for c in ERROR_CLASSES
                                                  if classes[c]},
            # Per class: the resolved rows whose entry or truth exposes them to it, and how
            # many of those were right (a row can be exposed to several classes).
            "free_text_by_class": {c: {"resolved": exposed[c][0],
                                       "precision": _rate(exposed[c][1], exposed[c][0])}
                                   for c in ERROR_CLASSES[:6]},
        }
    report["fingerprint"] = hashlib.sha256(
        "\n".join(f"{r.status}|{r.code}|{r.method}" for r in results).encode()).hexdigest()[:16]
    return report


# -- workloads -------------------------------------------------------------------------------


def code_workload(n: int, seed: int) -> list[Any]:
    """Code entries as claims carry them: billable codes in the forms people type, repeated
    the way a claims file repeats its common codes (a few thousand distinct ones)."""
    from worker.contract import Entry
    from worker.resolver import get_resolver

    resolver = get_resolver()
    table = resolver._table(resolver.release_labels()[-1])  # the newest release
    rng = random.Random(seed)
    pool = sorted(table.billable)
    common = rng.sample(pool, 5000)
    forms = (lambda c: c, lambda c: c.replace(".", ""), lambda c: c.lower(),
             lambda c: f" {c} ", lambda c: c.replace(".", "").lower())
    # Each code comes in the form its claims system writes it (two systems, two forms).
    typed = {code: (rng.choice(forms)(code), rng.choice(forms)(code)) for code in common}
    weights = [1.0 / (rank + 1) for rank in range(len(common))]  # Zipf: a few codes dominate
    picks = [rng.choice(typed[code]) for code in rng.choices(common, weights=weights, k=n)]
    # Dates of service as claims carry them: one a day over FY2025 and FY2026, some missing.
    first = dt.date(2024, 10, 1)
    dates = [None, *(first + dt.timedelta(days=n) for n in range(730))]
    return [Entry(line_no=i, term=term, date_of_service=rng.choice(dates))
            for i, term in enumerate(picks)]


def text_workload(n: int, seed: int) -> list[str]:
    """Distinct free-text terms: titles and inclusion terms as typed (lower case, words
    dropped or reordered, one typo), never the same string twice."""
    from worker.resolver import get_resolver

    resolver = get_resolver()
    index = resolver._index(resolver.release_labels()[-1]).text.index
    rng = random.Random(seed)
    keys = sorted(k for k in index.exact if 8 <= len(k) <= 60)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        words = rng.choice(keys).split()
        change = rng.random()
        if change < 0.25 and len(words) > 2:
            del words[rng.randrange(len(words))]
        elif change < 0.5 and len(words) > 1:
            rng.shuffle(words)
        elif change < 0.8:
            i = rng.randrange(len(words))
            word = words[i]
            if len(word) > 4:
                j = rng.randrange(1, len(word) - 1)
                words[i] = word[:j] + word[j + 1:]
        term = " ".join(words)
        if term not in seen:
            seen.add(term)
            out.append(term)
    return out


def per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One fresh process: load, accuracy, throughput, peak memory."""
    from worker.contract import Entry
    from worker.resolver import engine, get_resolver
    from worker.settings import get_settings

    # The process-wide resolver, with the host cache of built indexes where --cache-dir says.
    engine._resolver = engine.Resolver(cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    engine._resolver_url = get_settings().effective_database_url
    resolver = get_resolver()
    labels = resolver.release_labels()
    started, cpu = time.perf_counter(), time.process_time()
    load = {label: resolver.load(label) for label in reversed(labels)}
    load_total = time.perf_counter() - started
    load_cpu = time.process_time() - cpu
    report: dict[str, Any] = {"load_seconds": load, "load_seconds_all": load_total,
                              "load_cpu_seconds_all": load_cpu}
    report["accuracy"] = accuracy(show_misses=False)
    # A worker holding both releases, the GEMs and a warm memo (the eval set): its peak so far.
    report["rss_two_releases_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.load_only:
        return report

    entries = code_workload(args.code_entries, seed=args.seed)
    resolver._memo.clear()
    started, cpu = time.perf_counter(), time.process_time()
    for at in range(0, len(entries), CHUNK):
        resolver.resolve(entries[at:at + CHUNK])
    report["code_entries_per_s"] = per_second(len(entries), time.perf_counter() - started)
    report["code_entries_per_cpu_s"] = per_second(len(entries), time.process_time() - cpu)

    # All distinct: every code form seen for the first time (the memo cannot help).
    table = resolver._table(labels[-1])
    distinct = [Entry(line_no=i, term=c.replace(".", "")) for i, c in enumerate(sorted(table.billable))]
    resolver._memo.clear()
    started = time.perf_counter()
    for at in range(0, len(distinct), CHUNK):
        resolver.resolve(distinct[at:at + CHUNK])
    report["distinct_code_entries_per_s"] = per_second(len(distinct), time.perf_counter() - started)

    terms = text_workload(args.text_terms, seed=args.seed)
    text_entries = [Entry(line_no=i, term=t) for i, t in enumerate(terms)]
    resolver._memo.clear()
    started, cpu = time.perf_counter(), time.process_time()
    for at in range(0, len(text_entries), CHUNK):
        results = resolver.resolve(text_entries[at:at + CHUNK])
    report["text_terms_per_s"] = per_second(len(text_entries), time.perf_counter() - started)
    report["text_terms_per_cpu_s"] = per_second(len(text_entries), time.process_time() - cpu)
    del results

    # Repeated free text (a claims file repeats its diagnoses): 20,000 entries over 2,000 terms.
    rng = random.Random(args.seed)
    repeated = [Entry(line_no=i, term=rng.choice(terms[:2000])) for i in range(20000)]
    started = time.perf_counter()
    for at in range(0, len(repeated), CHUNK):
        resolver.resolve(repeated[at:at + CHUNK])
    report["repeated_text_entries_per_s"] = per_second(len(repeated), time.perf_counter() - started)
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["load_average"] = os.getloadavg()[0]
    report["releases_loaded"] = resolver.loaded_releases()
    return report


# -- the baseline ----------------------------------------------------------------------


def fts5_baseline() -> dict[str, Any]:
    """SQLite FTS5 bm25 over the newest release's official text (titles, inclusion terms, CMS
    short titles; no curated synonyms) of billable codes, top-1 per term: the issue's baseline."""
    import sqlite3

    from evalset import load_eval

    from worker.resolver import get_resolver
    from worker.resolver.normalize import text_key

    resolver = get_resolver()
    label = resolver.release_labels()[-1]
    index = resolver._index(label)
    table = index.table
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(code UNINDEXED, text)")
    rows = [(code, text) for text in index.text.index.exact
            for code, kind in index.text.index.hits(text) or ()
            if code in table.billable and kind != "synonym"]
    conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    per: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    started = time.perf_counter()
    asked = 0
    for row in load_eval():
        if row.category not in ("colloquial", "abbreviation", "misspelling") or row.expects_status:
            continue
        words = text_key(row.input).split()
        query = " OR ".join(f'"{w}"' for w in words)
        hit = conn.execute("SELECT code FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 1",
                           (query,)).fetchone() if words else None
        asked += 1
        per[row.category][0] += 1
        per[row.category][1] += bool(hit and hit[0] in row.accepted)
    seconds = time.perf_counter() - started
    return {"top1": {k: round(v[1] / v[0], 4) for k, v in per.items()},
            "ms_per_term": round(1000 * seconds / max(asked, 1), 2)}


# -- report --------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code-entries", type=int, default=400_000)
    parser.add_argument("--text-terms", type=int, default=6_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--accuracy", action="store_true", help="accuracy only, misses listed")
    parser.add_argument("--baseline", action="store_true", help="also run the FTS5 bm25 baseline")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    parser.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args)))
        return 0
    if args.accuracy:
        report = accuracy(show_misses=True)
        for line in report.pop("misses"):
            print(line)
        print_accuracy(report)
        gem_report = gem_agreement.agreement()
        gem_report.pop("misses")
        gem_agreement.print_agreement(gem_report)
        return 0

    cache_dir = Path(tempfile.mkdtemp(prefix="dxcoder-bench-cache-"))
    runs, cached_runs = [], []
    try:
        # Cold: every run builds the indexes from the database (the cache emptied before it).
        for n in range(args.runs):
            shutil.rmtree(cache_dir, ignore_errors=True)
            runs.append(run_child(args, n, cache_dir, load_only=False))
            print(f"run {n + 1}/{args.runs} (cold build) done", file=sys.stderr)
        # Warm: a new process on a host where one already built them (prefork children,
        # restarts) reads the cached indexes.
        for n in range(args.runs):
            cached_runs.append(run_child(args, n, cache_dir, load_only=True))
            print(f"run {n + 1}/{args.runs} (from host cache) done", file=sys.stderr)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    fingerprints = {r["accuracy"]["fingerprint"] for r in runs + cached_runs}
    summary = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "runs": len(runs),
        "accuracy": {k: v for k, v in runs[0]["accuracy"].items() if k != "misses"},
        "deterministic_across_runs": len(fingerprints) == 1,
        "median": {
            key: median([r[key] for r in runs]) for key in (
                "code_entries_per_s", "code_entries_per_cpu_s", "distinct_code_entries_per_s",
                "text_terms_per_s", "text_terms_per_cpu_s", "repeated_text_entries_per_s",
                "load_seconds_all", "load_cpu_seconds_all", "rss_two_releases_mb", "peak_rss_mb",
                "load_average")
        },
        "median_load_seconds": {
            label: median([r["load_seconds"][label] for r in runs]) for label in runs[0]["load_seconds"]
        },
        "median_cached_load_seconds": {
            label: median([r["load_seconds"][label] for r in cached_runs])
            for label in cached_runs[0]["load_seconds"]
        },
        "median_cached": {key: median([r[key] for r in cached_runs]) for key in (
            "load_seconds_all", "load_cpu_seconds_all", "rss_two_releases_mb")},
        "all_runs": runs,
        "all_cached_runs": cached_runs,
    }
    if args.baseline:
        summary["baseline_fts5_bm25"] = fts5_baseline()
    summary["gem_agreement"] = gem_agreement.agreement()
    summary["gem_agreement"].pop("misses")
    print_accuracy(summary["accuracy"])
    print_speed(summary)
    gem_agreement.print_agreement(summary["gem_agreement"])
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"resolver-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0


def run_child(args: argparse.Namespace, n: int, cache_dir: Path, *, load_only: bool
              ) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--code-entries", str(args.code_entries),
               "--text-terms", str(args.text_terms), "--seed", str(args.seed + n),
               "--cache-dir", str(cache_dir)]
    if load_only:
        command.append("--load-only")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def print_accuracy(report: dict[str, Any]) -> None:
    for split, part in report["splits"].items():
        locked = " (locked: never tuned on)" if split == "test" else ""
        print(f"\n== {split} split{locked}: {part['rows']} rows")
        print(f"{'category':<13}{'rows':>6}{'top-1':>8}{'resolved ok':>13}{'precision':>11}"
              "   statuses")
        for category, row in part["categories"].items():
            precision = ("-" if row["precision_resolved"] is None
                         else f"{row['precision_resolved']:.1%}")
            mix = " ".join(f"{k}={v}" for k, v in row["statuses"].items())
            print(f"{category:<13}{row['rows']:>6}{row['top1']:>8.1%}"
                  f"{row['resolved_right']:>13.1%}{precision:>11}   {mix}")
        print(f"precision of resolved: {part['precision_resolved']:.1%} (free text "
              f"{part['precision_resolved_free_text']:.1%}, free-text top-1 "
              f"{part['top1_free_text']:.1%}; resolved {part['resolved_share']:.1%} of "
              f"{part['rows']} rows); statuses: {part['statuses']}")
        print("  free text, precision of resolved by method: " + ", ".join(
            f"{m} {v['precision']:.1%} of {v['resolved']}"
            for m, v in part["free_text_by_method"].items()))
        print("  free text, precision of resolved by confidence: " + ", ".join(
            f"{b} {v['precision']:.1%} of {v['resolved']}"
            for b, v in part["free_text_by_band"].items()))
        print("  free text, precision of resolved by error class (rows exposed to it): " + ", ".join(
            (f"{c} {v['precision']:.1%} of {v['resolved']}" if v["resolved"] else f"{c} none resolved")
            for c, v in part["free_text_by_class"].items()))
        print("  free text, wrong resolved by error class: " + (", ".join(
            f"{c}: {n}" for c, n in part["free_text_wrong_resolved_by_class"].items()) or "none"))


def print_speed(summary: dict[str, Any]) -> None:
    m = summary["median"]
    print(f"\nmedians of {summary['runs']} runs (fresh process each, chunks of {CHUNK}; "
          f"wall clock, CPU time in brackets; 1-min load average {m['load_average']:.1f}):")
    print(f"  code entries/s (claims-like repetition) {m['code_entries_per_s']:>12,.0f}"
          f"  [{m['code_entries_per_cpu_s']:,.0f}]")
    print(f"  code entries/s (all distinct)           {m['distinct_code_entries_per_s']:>12,.0f}")
    print(f"  distinct free-text terms/s              {m['text_terms_per_s']:>12,.0f}"
          f"  [{m['text_terms_per_cpu_s']:,.0f}]")
    print(f"  repeated free-text entries/s            {m['repeated_text_entries_per_s']:>12,.0f}")
    loads = ", ".join(f"{k} {v:.2f} s" for k, v in summary["median_load_seconds"].items())
    print(f"  index load, built from the database: {loads}; both {m['load_seconds_all']:.2f} s "
          f"[{m['load_cpu_seconds_all']:.2f} s]")
    c = summary["median_cached"]
    loads = ", ".join(f"{k} {v:.2f} s" for k, v in summary["median_cached_load_seconds"].items())
    print(f"  index load, from the host cache:     {loads}; both {c['load_seconds_all']:.2f} s "
          f"[{c['load_cpu_seconds_all']:.2f} s]")
    print(f"  RSS holding both releases (+GEMs, memo): built {m['rss_two_releases_mb']:,.0f} MB, "
          f"from cache {c['rss_two_releases_mb']:,.0f} MB; peak at the end of a run "
          f"{m['peak_rss_mb']:,.0f} MB")
    print(f"  deterministic across runs: {summary['deterministic_across_runs']}")
    if "baseline_fts5_bm25" in summary:
        b = summary["baseline_fts5_bm25"]
        print(f"  FTS5 bm25 baseline top-1: {b['top1']} at {b['ms_per_term']} ms/term")


if __name__ == "__main__":
    sys.exit(main())
