"""Token scoring of free text against a release's terms: candidates from postings, IDF-weighted F-score."""

from __future__ import annotations

import dataclasses
import heapq

from worker.resolver.hierarchy import CodeTable, default_rank
from worker.resolver.normalize import NONESSENTIAL, STOPWORDS, stem, words
from worker.resolver.spelling import Speller
from worker.resolver.textindex import TextIndex

# How much a corrected word counts, by number of edits: a typo fixed is likely, not certain.
CORRECTION_FACTOR = {0: 1.0, 1: 0.9, 2: 0.75}
# Documents scored in full per query; the rest are pruned on their matched weight first.
_PRUNE_TO = 3000
_TOP = 40


@dataclasses.dataclass(frozen=True, slots=True)
class Query:
    """The content words of an input, corrected against the vocabulary, with IDF weights."""

    tokens: tuple[tuple[str, float], ...]  # (vocabulary word, weight x correction factor)
    total: float  # weight of everything the input says, unknown words included
    corrected: bool  # a word was corrected or is unknown
    unknown: int  # words neither known nor correctable


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """A scored final code: a billable code, or a header with no default (a person must choose)."""

    score: float
    code: str  # the billable code (default of a header) or the header itself
    term_code: str  # the code whose term matched
    kind: int  # term kind rank of the best matching term
    billable: bool
    perfect: bool  # every content word matched a term exactly, and the term is fully covered


def content_words(key: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in words(key):
        if word not in STOPWORDS and word not in NONESSENTIAL:
            seen.setdefault(stem(word), None)
    return list(seen)


def make_query(key: str, index: TextIndex, speller: Speller) -> Query | None:
    tokens: dict[str, float] = {}
    total = 0.0
    corrected = False
    unknown = 0
    idf = index.idf
    fallback = max(idf.values(), default=1.0)
    for word in content_words(key):
        weight = idf.get(word)
        if weight is not None:
            tokens[word] = max(tokens.get(word, 0.0), weight)
            total += weight
            continue
        replacement, edits = speller.correct(word)
        if not replacement:
            unknown += 1
            corrected = True
            total += fallback
            continue
        corrected = True
        factor = CORRECTION_FACTOR.get(edits, 0.6)
        for part in replacement:
            weight = idf.get(part, fallback)
            tokens[part] = max(tokens.get(part, 0.0), weight * factor)
            total += weight
    if not tokens:
        return None
    return Query(tuple(tokens.items()), total, corrected, unknown)


def score(query: Query, index: TextIndex, table: CodeTable) -> list[Candidate]:
    """Candidates best first: F1 of query recall and term precision over IDF weights.

    Recall: how much of the input the term explains (its essential and nonessential words).
    Precision: how much of the term's essential words the input names. Word order, stop
    words and punctuation do not count; missing words cost their weight.
    """
    accumulated: dict[int, float] = {}
    optional: dict[int, float] = {}
    get = accumulated.get
    for token, weight in sorted(query.tokens, key=lambda tw: index.df(tw[0])):
        for doc in index.essential.get(token, ()):
            accumulated[doc] = get(doc, 0.0) + weight
    for token, weight in query.tokens:
        posting = index.optional.get(token)
        if posting:
            oget = optional.get
            for doc in posting:
                optional[doc] = oget(doc, 0.0) + weight
    if not accumulated:
        return []
    docs = accumulated.keys()
    if len(accumulated) > _PRUNE_TO:
        docs = heapq.nlargest(_PRUNE_TO, accumulated, key=get)  # type: ignore[assignment,arg-type]
    total = query.total
    doc_weight = index.doc_weight
    scored = []
    oget = optional.get
    for doc in docs:
        essential = accumulated[doc]
        recall = (essential + oget(doc, 0.0)) / total
        precision = essential / doc_weight[doc]
        if recall > 1.0:
            recall = 1.0
        scored.append((2 * precision * recall / (precision + recall), doc))
    best = heapq.nlargest(_TOP, scored)
    by_code: dict[str, Candidate] = {}
    doc_code, doc_kind = index.doc_code, index.doc_kind
    for value, doc in best:
        term_code = doc_code[doc]
        final = table.default_code(term_code)
        code = final or term_code
        kind = doc_kind[doc]
        known = by_code.get(code)
        if known is not None and (known.score > value or
                                  (known.score == value and known.kind <= kind)):
            continue
        perfect = value >= 0.9999 and not query.corrected
        by_code[code] = Candidate(value, code, term_code, kind, final is not None, perfect)
    return sorted(by_code.values(), key=lambda c: (-round(c.score, 6), not c.billable, c.kind,
                                                   default_rank(table.title(c.code)), c.code))
