"""Generate a realistic claims file: Zipf-drawn billable codes in every typed form, ICD-9-CM codes,
free text with abbreviations and misspellings, and a few broken lines.

    python bench/generate_claims.py --lines 1000000 -o bench/out/claims-1m.csv --seed 7

Deterministic for a seed. Uses the packaged CMS data (FY2026 tabular, GEMs) and the curated
synonym/abbreviation files, so every realistic line names something real.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import itertools
import random
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.codesets import sources, tabular  # noqa: E402
from worker.codesets.gems import packaged_gems  # noqa: E402
from worker.codesets.model import FORWARD  # noqa: E402

DATA = ROOT / "worker" / "data"
# Share of each kind of line in the file (sums to 1).
MIX = {"code": 0.62, "icd9": 0.08, "text": 0.24, "broken": 0.01, "abbrev": 0.05}


def _zipf_picker(items: list[str], rng: random.Random, s: float = 1.1):  # type: ignore[no-untyped-def]
    weights = list(itertools.accumulate(1.0 / (rank ** s) for rank in range(1, len(items) + 1)))
    total = weights[-1]
    return lambda: items[bisect.bisect_left(weights, rng.random() * total)]


def _typed_forms(code: str, rng: random.Random) -> str:
    flat = code.replace(".", "")
    form = rng.random()
    if form < 0.45:
        return code
    if form < 0.7:
        return flat
    if form < 0.8:
        return code.lower()
    if form < 0.9:
        return f" {code} "
    if "X" in code:
        return code.replace("X", "x")
    return flat.lower()


def _misspell(text: str, rng: random.Random) -> str:
    words = text.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 6]
    if not long_words:
        return text
    i = rng.choice(long_words)
    w = words[i]
    k = rng.randrange(1, len(w) - 1)
    words[i] = rng.choice([w[:k] + w[k + 1:], w[:k] + w[k + 1] + w[k] + w[k + 2:],
                           w[:k] + w[k] + w[k:]])
    return " ".join(words)


def _read_column(path: Path, column: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row[column] for row in csv.DictReader(fh) if row.get(column)]


def rows(lines: int, seed: int) -> Iterator[list[str]]:
    rng = random.Random(seed)
    data = sources.package_data("simple_icd_10_cm", "data")
    codes, _ = tabular.parse_tabular(data / "icd10c-tabular-April-1-2026.xml")
    billable = [c.code for c in codes if c.billable]
    rng.shuffle(billable)
    pick_code = _zipf_picker(billable, rng)
    gems = sorted({row.source for gem in packaged_gems() if gem.direction == FORWARD
                   for row in gem.rows})
    rng.shuffle(gems)
    pick_icd9 = _zipf_picker(gems, rng)
    synonyms = _read_column(DATA / "synonyms.csv", "term")
    rng.shuffle(synonyms)
    pick_text = _zipf_picker(synonyms, rng, 0.9)
    abbreviations = _read_column(DATA / "abbreviations.csv", "abbreviation")
    broken = ["", "   ", "???", "E11.9\x01", "x" * 1200, "DROP TABLE result;--", "\U0001F600"]
    kinds, weights = zip(*MIX.items(), strict=True)
    start = dt.date(2024, 10, 1)
    for n in range(1, lines + 1):
        kind = rng.choices(kinds, weights)[0]
        dos = (start + dt.timedelta(days=rng.randrange(0, 700))).isoformat()
        system = "auto"
        if kind == "code":
            term = _typed_forms(pick_code(), rng)
        elif kind == "icd9":
            term = pick_icd9()
            term = term.replace(".", "") if rng.random() < 0.3 else term
            system = "icd9cm" if rng.random() < 0.5 else "auto"
            if system == "auto":
                dos = (dt.date(2014, 1, 1) + dt.timedelta(days=rng.randrange(0, 600))).isoformat()
        elif kind == "text":
            term = pick_text()
            if rng.random() < 0.3:
                term = _misspell(term, rng)
            if rng.random() < 0.3:
                term = term.title()
        elif kind == "abbrev":
            term = rng.choice(abbreviations).upper()
        else:
            term = rng.choice(broken)
        yield [f"CLM{n:08d}", term, system, dos, rng.choice(["MEDICARE", "AETNA", "BCBS"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "term", "system", "date_of_service", "payer"])
        writer.writerows(rows(args.lines, args.seed))


if __name__ == "__main__":
    main()
