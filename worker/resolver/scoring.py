"""Token scoring of free text against a release's terms: candidates from postings, IDF-weighted F-score."""

from __future__ import annotations

import dataclasses
import heapq

from worker.resolver.hierarchy import CodeTable, default_rank
from worker.resolver.normalize import NONESSENTIAL, STOPWORDS, stem, words
from worker.resolver.spelling import Speller
from worker.resolver.textindex import TextIndex

# How much a corrected word counts, by number of edits: a typo fixed is likely, not certain.
CORRECTION_FACTOR = {0: 1.0, 1: 0.9, 2: 0.8, 3: 0.7}
# The recall-weighted F-score: words of the input the term does not explain cost more than
# words of the term the input leaves out ("type 2 diabetes" still names E11).
BETA2 = 4.0
# Nonessential words of a term the input does not name count this much against it.
OPTIONAL_COST = 0.1
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


def content_words(key: str, known: Speller | None = None) -> list[str]:
    """Content words of a key as written (stop words and default words dropped); two words
    the vocabulary knows as one are joined (gall stones -> gallstones, heart burn -> heartburn)."""
    seen: dict[str, None] = {}
    raw = words(key)
    if known is not None:
        split = [known.split_number(w) if w not in known else None for w in raw]
        if any(split):
            raw = [part for w, parts in zip(raw, split, strict=True) for part in (parts or (w,))]
    i = 0
    while i < len(raw):
        word = raw[i]
        if known is not None and i + 1 < len(raw) and word + raw[i + 1] in known:
            seen.setdefault(word + raw[i + 1], None)
            i += 2
            continue
        if word not in STOPWORDS and word not in NONESSENTIAL:
            seen.setdefault(word, None)
        i += 1
    return list(seen)


def make_query(key: str, index: TextIndex, speller: Speller) -> Query | None:
    """Weighted index tokens of a key; a word the index does not know is corrected as written
    (hypertention -> hypertension) and then stemmed."""
    tokens: dict[str, float] = {}
    total = 0.0
    corrected = False
    unknown = 0
    idf = index.idf
    fallback = index.max_idf
    for word in content_words(key, speller):
        token = stem(word)
        weight = idf.get(token)
        if weight is not None:
            tokens[token] = max(tokens.get(token, 0.0), weight)
            total += weight
            continue
        replacement, edits = speller.correct(word)
        corrected = True
        parts = [stem(part) for part in replacement if stem(part) in idf]
        if not parts:
            unknown += 1
            total += fallback
            continue
        factor = CORRECTION_FACTOR.get(edits, 0.6)
        for part in parts:
            weight = idf[part]
            tokens[part] = max(tokens.get(part, 0.0), weight * factor)
            total += weight
    if not tokens:
        return None
    return Query(tuple(tokens.items()), total, corrected, unknown)


def score(query: Query, index: TextIndex, table: CodeTable) -> list[Candidate]:
    """Candidates best first: recall-weighted F of query recall and term precision over IDF.

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
    doc_optional = index.doc_optional_weight
    for doc in docs:
        essential = accumulated[doc]
        matched_optional = oget(doc, 0.0)
        recall = (essential + matched_optional) / total
        if recall > 1.0:
            recall = 1.0
        precision = essential / (doc_weight[doc] +
                                 OPTIONAL_COST * max(0.0, doc_optional[doc] - matched_optional))
        scored.append(((1 + BETA2) * precision * recall / (BETA2 * precision + recall), doc))
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
