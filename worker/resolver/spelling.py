"""Spelling correction of unknown words against the index vocabulary, bounded and memoized."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

# Shorter words are left alone: too many real words lie one edit from a four-letter typo,
# and short tokens are mostly abbreviations (handled elsewhere).
MIN_LENGTH = 5
_CACHE_LIMIT = 100_000


def max_edits(length: int) -> int:
    return 1 if length <= 6 else 2


class Speller:
    """Corrects a word to the most frequent vocabulary word within 1-2 edits (transpositions count one).

    Candidates are restricted to vocabulary words of similar length; rapidfuzz's OSA distance
    does the comparing in C. A word that is two known words run together is split instead.
    """

    __slots__ = ("_known", "_by_length", "_cache")

    def __init__(self, vocabulary: Iterable[str]) -> None:
        words = list(vocabulary)  # most frequent first: ties go to the common word
        self._known = frozenset(words)
        self._by_length: dict[int, list[str]] = {}
        for word in words:
            self._by_length.setdefault(len(word), []).append(word)
        self._cache: dict[str, tuple[tuple[str, ...], int]] = {}

    def __contains__(self, word: str) -> bool:
        return word in self._known

    def correct(self, word: str) -> tuple[tuple[str, ...], int]:
        """(replacement words, edits); ((), 0) when nothing is close enough."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        found = self._correct(word)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = found
        return found

    def _correct(self, word: str) -> tuple[tuple[str, ...], int]:
        if word in self._known:
            return (word,), 0
        if len(word) < MIN_LENGTH or not word.isalpha():
            return (), 0
        for cut in range(3, len(word) - 2):
            head, tail = word[:cut], word[cut:]
            if head in self._known and tail in self._known:
                return (head, tail), 1
        limit = max_edits(len(word))
        best: tuple[str, int] | None = None
        for length in sorted(range(len(word) - limit, len(word) + limit + 1),
                             key=lambda n: abs(n - len(word))):
            bucket = self._by_length.get(length)
            if not bucket:
                continue
            hit = process.extractOne(word, bucket, scorer=OSA.distance, score_cutoff=limit)
            if hit is not None and (best is None or hit[1] < best[1]):
                best = (hit[0], int(hit[1]))
                if best[1] == 1:
                    break
        if best is None:
            return (), 0
        return (best[0],), best[1]
