"""Diagnosis entries to the ICD-10-CM code valid on the date of service: codes, ICD-9-CM, free text.

    from worker.resolver import get_resolver
    results = get_resolver().resolve(entries, release=None)

One Result per entry, in input order (see worker.contract). The indexes are read from the
database once per process and release (worker.resolver.engine) and reloaded only when a
release, the synonyms, the GEMs or the overrides change.
"""

from worker.resolver.engine import Resolver, get_resolver, reset_resolver

__all__ = ["Resolver", "get_resolver", "reset_resolver"]
