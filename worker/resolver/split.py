"""An entry listing several diagnoses, cut into them: "hypertension, hyperlipidemia and GERD"."""

from __future__ import annotations

import re

from worker.resolver.normalize import text_key

# Semicolons, commas, a slash between words of two letters or more (not w/o, s/p, h/o, r/o),
# "+", "&", and "and", "with", "w/" between words. "with" inside a title ("low back pain with
# sciatica") is only taken apart when the parts make a guideline combination (the caller).
_HARD = re.compile(r"\s*;\s*|\s*\+\s*|\s*\|\s*|\s*\n\s*")
_SOFT = re.compile(r"\s*,\s*|(?<=[A-Za-z0-9]{2})\s*/\s*(?=[A-Za-z0-9]{2})|\s+&\s+|\s+and\s+",
                   re.IGNORECASE)
_WITH = re.compile(r"\s+(?:with|w/)\s+|\s+w\s+", re.IGNORECASE)
# A part made only of these qualifies the part before it ("carpal tunnel syndrome, right",
# "major depressive disorder, recurrent, moderate", "fracture of femur, left, initial").
_QUALIFIER_ONLY = frozenset({
    "right", "left", "rt", "lt", "r", "l", "bilateral", "bil", "bilat", "both", "side", "sided",
    "unilateral", "initial", "init", "subsequent", "subs", "sequela", "encounter", "enc",
    "acute", "chronic", "recurrent", "moderate", "mild", "severe", "single", "episode", "stage",
    "grade", "type", "first", "second", "third", "trimester", "unspecified", "uncomplicated",
    "complicated", "not", "intractable", "controlled", "uncontrolled", "primary", "secondary",
    "with", "without", "psychotic", "features", "in", "remission", "partial", "full", "early",
    "late", "onset", "closed", "open", "displaced", "nondisplaced", "upper", "lower", "limb",
    "extremity", "eye", "ear", "knee", "hip", "shoulder", "the", "of", "nos", "other",
    "specified", "unsp", "ou", "od", "os", "a", "b", "mixed", "exacerbation", "flare",
    "postsurgical", "postprocedural", "postoperative", "current", "history", "status",
    "persistent", "paroxysmal", "permanent", "3a", "3b",
})


def _qualifier_only(part: str) -> bool:
    words = text_key(part).split()
    return bool(words) and all(w in _QUALIFIER_ONLY or w.isdigit() or
                               (len(w) <= 2 and w[:1].isdigit()) for w in words)


def _glue(pieces: list[str]) -> list[str]:
    """Pieces that only qualify the one before are joined back to it."""
    out: list[str] = []
    for piece in pieces:
        piece = piece.strip(" ,.")
        if not piece:
            continue
        if out and _qualifier_only(piece):
            out[-1] = f"{out[-1]}, {piece}"
        else:
            out.append(piece)
    return out


def parts(term: str) -> tuple[list[str], bool]:
    """The diagnoses an entry lists, in order (one part when it lists one), and whether a
    hard separator (semicolon, "+", "|", a line break) made the cut."""
    found: list[str] = []
    pieces = _HARD.split(term)
    for hard in pieces:
        found.extend(_glue(_SOFT.split(hard)))
    return [p for p in found if text_key(p)], sum(1 for p in pieces if text_key(p)) > 1


def with_parts(term: str) -> list[str]:
    """The entry taken apart on "with" ("HTN with CKD 3"), for guideline combinations only."""
    pieces = _glue(_WITH.split(term))
    return pieces if len(pieces) > 1 else [term]
