"""The one bounded-memo policy of the hot paths: plain dicts, trimmed by `remember`."""

from __future__ import annotations

import itertools
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, size: int) -> V:
    """Store `value` under `key` and return it; past `size` entries the oldest quarter goes
    (insertion order).

    Lookups stay plain dict lookups. Trimming the oldest quarter keeps a claims file's frequent
    keys, which come straight back, where emptying the memo would make each of them a miss
    again; and it costs nothing per hit, where an LRU reorders on every one.
    """
    memo[key] = value
    if len(memo) > size:
        for old in list(itertools.islice(memo, max(size // 4, 1))):
            del memo[old]
    return value
