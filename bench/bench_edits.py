"""What claim edits add to a job: `dxcoder run` of the same claims file with the edits at job
completion on and off (DXCODER_CLAIM_EDITS), alternating, in the same minutes.

    .venv/bin/python bench/bench_edits.py [--lines 200000] [--runs 3]

The file is bench/generate_claims.py's mix, its lines grouped into claims of 1 to 6 diagnoses
(a claim_id column), as a professional-claims extract carries them. Embedded mode (SQLite), so
no servers are needed. Quotes the median wall time of each and their ratio (goal: edits add at
most 10%). Writes bench/out/edits.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
OUT = ROOT / "bench" / "out"


def claims_file(path: Path, lines: int, seed: int) -> Path:
    from bench.generate_claims import rows

    rng = random.Random(seed)
    claim, left = 0, 0
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["claim_id", "id", "term", "system", "date_of_service", "payer"])
        date = ""
        for row in rows(lines, seed):
            if left == 0:
                claim, left = claim + 1, rng.randint(1, 6)
                date = row[3]  # one date of service per claim
            left -= 1
            writer.writerow([f"C{claim:08d}", row[0], row[1], row[2], date, row[4]])
    return path


def timed_run(source: Path, data_dir: Path, edits_on: bool) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DXCODER_")}
    env.update({"DXCODER_DATA_DIR": str(data_dir), "DXCODER_CLAIM_EDITS": str(edits_on).lower(),
                "DXCODER_LOG_LEVEL": "WARNING"})
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "dxcoder"), "run", str(source), "-o",
                           str(data_dir / "out.csv"), "--quiet"], env=env, text=True,
                          capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: some lines need review, as on any claims file
        raise SystemExit(f"dxcoder run failed: {done.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dxbench-edits-") as scratch:
        data_dir = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DXCODER_")}
        env["DXCODER_DATA_DIR"] = str(data_dir)
        subprocess.run([str(BIN / "dxcoder"), "codeset", "load"], env=env, check=True,
                       capture_output=True)
        source = claims_file(data_dir / "claims.csv", args.lines, args.seed)
        timed_run(source, data_dir, True)  # warm the resolver cache and the page cache
        times: dict[str, list[float]] = {"on": [], "off": []}
        for n in range(args.runs):
            for mode in (("on", "off") if n % 2 == 0 else ("off", "on")):
                times[mode].append(timed_run(source, data_dir, mode == "on"))
                print(f"run {n + 1}/{args.runs} edits {mode}: {times[mode][-1]:.1f} s",
                      file=sys.stderr)
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    report = {"lines": args.lines, "runs": args.runs, "seconds": times, "median": medians,
              "ratio_on_off": round(medians["on"] / medians["off"], 3)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "edits.json").write_text(json.dumps(report, indent=2))
    print(f"{args.lines:,} lines, {args.runs} paired runs: edits off {medians['off']:.1f} s, "
          f"on {medians['on']:.1f} s (median); on/off = {report['ratio_on_off']:.3f} "
          "(goal <= 1.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
