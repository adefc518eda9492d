"""Diagnosis entries to the ICD-10-CM code valid on the date of service: codes, ICD-9-CM, free text.

    from worker.resolver import get_resolver
    results = get_resolver().resolve(entries, release=None)

One Result per entry, in input order (see worker.contract); a line that cannot be read is
`invalid_input`, one that fails unexpectedly `error`, and the batch goes on.

How it is put together:
- engine: the Resolver. Per call one freshness check (release checksums, data versions,
  overrides); per distinct (term, system, release) one resolution, remembered per process.
- loading: the set-based reads (a handful of SELECTs per release, none per entry).
- hierarchy: codes of a release, default codes (E11 -> E11.9), successors across releases.
- codes, gems: ICD-10-CM code forms; ICD-9-CM through the GEMs, flags kept.
- normalize, textindex, spelling, scoring, text: free text, from exact terms through
  abbreviations to IDF-weighted fuzzy scoring with calibrated confidence.
- cache: built text indexes kept on the host for the next process.
"""

from worker.resolver.engine import Resolver, get_resolver, reset_resolver

__all__ = ["Resolver", "get_resolver", "reset_resolver"]
