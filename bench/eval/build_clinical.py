#!/usr/bin/env python3
"""Build bench/eval/clinical.csv: hand-written problem-list entries and titles rephrased as charts write them.

Stdlib only, like build_eval.py (same packages, same checks):

    .venv/bin/python bench/eval/build_clinical.py          # rebuild clinical.csv, then verify it
    .venv/bin/python bench/eval/build_clinical.py --check  # verify clinical.csv as it is

Rows of `clinical_handwritten.csv` are copied as they are. The `rephrased` category is generated
(seeded) from April 2026 tabular titles that state a side and, for injuries, an encounter: the side
word is taken out of the title and written at the end the way problem lists write it ("left",
"lt", "L"), and the encounter is shortened ("initial encounter", "subsequent", "sequela"). The
expected code is the title's own code: a resolver that drops the side or the encounter misses.
Which rows are the locked test split is decided by `evalset.split_of` (a hash of the input).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build_eval  # noqa: E402
from evalset import escape  # noqa: E402

HANDWRITTEN = HERE / "clinical_handwritten.csv"
OUTPUT = HERE / "clinical.csv"
SEED = 16
COUNT = 240

_SIDE = re.compile(r"\b(right|left)\b")
_SIDE_FORMS = {"right": ("right", "rt", "R"), "left": ("left", "lt", "L")}
# The 7th-character meanings a problem list shortens, and only the default kind of each
# (closed fracture, routine healing), so the shortened text still names one code.
_ENCOUNTERS = (
    (", initial encounter for closed fracture", ("initial encounter", "init", "")),
    (", initial encounter", ("initial encounter", "initial", "")),
    (", subsequent encounter for closed fracture with routine healing",
     ("subsequent encounter", "subsequent")),
    (", subsequent encounter for fracture with routine healing",
     ("subsequent encounter", "subsequent")),
    (", subsequent encounter", ("subsequent encounter", "subs encounter")),
    (", sequela", ("sequela",)),
)


def rephrase(title: str, rng: random.Random) -> str | None:
    """The title as a problem list writes it, or None when it does not fit the pattern."""
    sides = _SIDE.findall(title)
    if len(sides) != 1 or "unspecified side" in title or " and " in title.split(",")[0]:
        return None
    side = sides[0]
    encounter = ""
    for ending, forms in _ENCOUNTERS:
        if title.endswith(ending):
            title = title[: -len(ending)]
            encounter = rng.choice(forms)
            break
    else:
        if "encounter" in title or "sequela" in title:
            return None
    bare = re.sub(r"\s+", " ", _SIDE.sub("", title)).replace(" ,", ",").strip(" ,")
    written = f"{bare}, {rng.choice(_SIDE_FORMS[side])}"
    if encounter:
        written = f"{written}, {encounter}"
    return written.lower() if rng.random() < 0.5 else written


def rephrased_rows(tabular: dict[str, build_eval.TabularCode]) -> list[dict[str, str]]:
    rng = random.Random(SEED)
    pool = sorted(code for code, entry in tabular.items()
                  if entry.billable and _SIDE.search(entry.title))
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for code in rng.sample(pool, len(pool)):
        text = rephrase(tabular[code].title, rng)
        if text is None or text.lower() in seen:
            continue
        seen.add(text.lower())
        rows.append({"category": "rephrased", "input": escape(text), "system": "auto",
                     "date_of_service": "", "expected": code, "acceptable": "",
                     "source": f'tabular title of {code} "{tabular[code].title}", side and '
                               "encounter moved to the end"})
        if len(rows) == COUNT:
            break
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify clinical.csv")
    args = parser.parse_args(argv)
    data = build_eval.package_dir("simple_icd_10_cm") / "data"
    tabular = build_eval.read_tabular(data / build_eval.TABULAR_XML, data / build_eval.CODE_LIST)
    if not args.check:
        rows = build_eval.read_rows(HANDWRITTEN) + rephrased_rows(tabular)
        build_eval.write_rows(OUTPUT, rows)
    rows = build_eval.read_rows(OUTPUT)
    problems = []
    for number, found in enumerate(rows, start=2):
        values = [found["expected"], *filter(None, found["acceptable"].split("|"))]
        for value in values:
            if value in ("needs_review", "no_match", "invalid_input"):
                continue
            for code in value.split("+"):
                entry = tabular.get(code)
                if entry is None or not entry.billable:
                    problems.append(f"{OUTPUT.name}:{number}: {code} is not billable in April 2026")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{OUTPUT.name}: {len(rows)} rows" + (f", {len(problems)} problems" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
