"""Recoding: re-check stored results against new releases, overrides and synonyms (issue 6).

- `runs`: start a run (or resume a crashed one), cut its recode chunks, count it done;
- `select`: which stored lines a run re-checks, and why (one predicate for planner and chunk);
- `apply`: one recode chunk through the lease kernel (worker.pipeline.lease): re-resolve,
  classify, history first, then the result;
- `report`: a run's changes as CSV.

What changed between two loaded releases (`codeset diff`) is worker.codesets.diff.
"""
