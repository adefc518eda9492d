"""Spelling correction of unknown words against the index vocabulary, bounded and memoized."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

from worker.memo import remember

# Shorter words are left alone: too many real words lie one edit from a three-letter typo,
# and short tokens are mostly abbreviations (handled elsewhere).
MIN_LENGTH = 4
_CACHE_LIMIT = 100_000
_WORD_NUMBER = re.compile(r"([a-z]{3,})([0-9]+[a-z]?)")


def max_edits(length: int) -> int:
    return 1 if length <= 5 else 2 if length <= 8 else 3


class Speller:
    """Corrects a word to the nearest vocabulary word (fewest edits, then most frequent), within
    1 edit for short words and up to 3 for long ones; a transposition counts one.

    Candidates are restricted to vocabulary words of similar length; rapidfuzz's OSA distance
    does the comparing in C. A word that is two known words run together is split instead.
    """

    __slots__ = ("_known", "_words", "_rank", "_by_length", "_deletes", "_cache")

    def __init__(self, vocabulary: Iterable[str], also_known: Iterable[str] = (),
                 deletes: dict[str, tuple[int, ...]] | None = None) -> None:
        """`vocabulary`: words to correct towards, most frequent first (ties go to the common
        word); `also_known`: further words that are no typo (short words, index tokens);
        `deletes`: the deletion index of this vocabulary if it was kept (worker.resolver.cache)."""
        words = list(vocabulary)
        self._known = frozenset([*words, *also_known])
        self._rank = {word: rank for rank, word in enumerate(words)}
        self._words = words
        # Two or three edits away, words with the same first letter are tried first (buckets
        # 20 times smaller); only if none is that close, every word within two edits.
        self._by_length: dict[tuple[int, str], list[str]] = {}
        for word in words:
            self._by_length.setdefault((len(word), word[0]), []).append(word)
            self._by_length.setdefault((len(word), ""), []).append(word)
        # One-deletion index (SymSpell): every word and each of its one-letter deletions ->
        # the word's frequency rank. A typo one edit away shares a key with its word, so most
        # corrections are a few dictionary lookups; rapidfuzz then only confirms the distance.
        if deletes is None:
            building: dict[str, list[int]] = {}
            for rank, word in enumerate(words):
                for key in {word, *(word[:i] + word[i + 1:] for i in range(len(word)))}:
                    building.setdefault(key, []).append(rank)
            deletes = {key: tuple(ranks) for key, ranks in building.items()}
            del building
        self._deletes = deletes
        self._cache: dict[str, tuple[tuple[str, ...], int]] = {}

    def __contains__(self, word: str) -> bool:
        return word in self._known

    @property
    def deletes(self) -> dict[str, tuple[int, ...]]:
        return self._deletes

    def also_known(self, words: Iterable[str]) -> None:
        """Declare more words no typo (called right after construction, before any correction)."""
        self._known = self._known.union(words)

    def near_a_word(self, word: str) -> bool:
        """True if a vocabulary word is one edit from `word`."""
        return word not in self._known and self._one_edit(word) is not None

    def split_number(self, word: str) -> tuple[str, ...] | None:
        """type2 -> (type, 2), when the letters are a known word."""
        match = _WORD_NUMBER.fullmatch(word)
        if match and match.group(1) in self._known:
            return match.group(1), match.group(2)
        return None

    def correct(self, word: str) -> tuple[tuple[str, ...], int]:
        """(replacement words, edits); ((), 0) when nothing is close enough."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        return remember(self._cache, word, self._correct(word), _CACHE_LIMIT)

    def _correct(self, word: str) -> tuple[tuple[str, ...], int]:
        if word in self._known:
            return (word,), 0
        if len(word) < MIN_LENGTH or not word.isalpha():
            return (), 0
        near = self._one_edit(word)
        if near is not None:
            return near
        for cut in range(2, len(word) - 1):
            head, tail = word[:cut], word[cut:]
            if head in self._known and tail in self._known:
                return (head, tail), 1
        return (self._nearest(word, max_edits(len(word)), word[0])
                or self._nearest(word, min(2, max_edits(len(word))), "") or ((), 0))

    def _one_edit(self, word: str) -> tuple[tuple[str, ...], int] | None:
        ranks: set[int] = set()
        for key in {word, *(word[:i] + word[i + 1:] for i in range(len(word)))}:
            ranks.update(self._deletes.get(key, ()))
        for rank in sorted(ranks):  # most frequent first
            candidate = self._words[rank]
            if OSA.distance(word, candidate, score_cutoff=1) <= 1:
                return (candidate,), 1
        return None

    def _nearest(self, word: str, limit: int, first: str) -> tuple[tuple[str, ...], int] | None:
        best: tuple[int, int, str] | None = None  # (edits, frequency rank, word)
        for length in range(len(word) - limit, len(word) + limit + 1):
            bucket = self._by_length.get((length, first))
            if not bucket:
                continue
            cutoff = limit if best is None else best[0]
            # The bucket is in frequency order, so the first word at the best distance is the
            # most frequent one there; across buckets, fewer edits win, then frequency.
            hit = process.extractOne(word, bucket, scorer=OSA.distance, score_cutoff=cutoff)
            if hit is None:
                continue
            candidate = (int(hit[1]), self._rank[hit[0]], hit[0])
            if best is None or candidate < best:
                best = candidate
        if best is None:
            return None
        return (best[2],), best[0]
