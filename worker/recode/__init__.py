"""Recoding: re-check stored results against new releases, overrides and synonyms (issue 6).

- `diff`: what changed between two loaded releases (added, deleted, retitled, expanded codes);
- `plan`: which stored lines a run re-checks, cut into recode chunks, one run at a time;
- `apply`: one recode chunk: claim, re-resolve, classify, history first, then the result;
- `report`: a run's changes as CSV.
"""
