"""Lexicons of conversation intelligence, and how free text matches them (seed 001).

A lexicon is a set of terms, each a phrase of one or more words with a kind (competitor,
competitor product, purchase channel, purchase reason, relationship cue, churn intent) and
a label (what the insight reports).  Matching is whole-word and case-blind; a word of the
text also matches a phrase word it inflects with a simple suffix (s, es, ed, ing, 's: "cancelled"
matches "cancel", "Nordnet's" matches "nordnet").  Where matches overlap, the longest wins.

``load_lexicon`` reads the TOML file once at start (cxpulse/data/lexicons.toml documents the
format); the matching code only ever takes the loaded ``Lexicon``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

__all__ = [
    "CHANNEL",
    "CHURN_INTENT",
    "COMPETITOR",
    "COMPETITOR_PRODUCT",
    "CUE",
    "KINDS",
    "REASON",
    "Lexicon",
    "LexiconError",
    "Mention",
    "Term",
    "Token",
    "find_mentions",
    "load_lexicon",
    "parse_lexicon",
    "tokens",
    "variants",
]

COMPETITOR = "competitor"
COMPETITOR_PRODUCT = "competitor_product"
CHANNEL = "channel"
REASON = "reason"
CUE = "cue"
CHURN_INTENT = "churn_intent"
#: Kinds in the order overlapping matches of equal length prefer them.
KINDS = (CHURN_INTENT, COMPETITOR_PRODUCT, COMPETITOR, CHANNEL, REASON, CUE)
#: TOML tables of plain ``label = [phrases]`` entries, and the kind each gives.
_PLAIN_TABLES = {"channels": CHANNEL, "reasons": REASON, "cues": CUE, "churn_intent": CHURN_INTENT}

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_POSSESSIVE = ("'s", "\u2019s")
#: Longest first: "switches" is tried as "switch" + "es" before "switche" + "s".
_SUFFIXES = ("ing", "ed", "es", "s")
_MIN_STEM = 2


class LexiconError(ValueError):
    """The lexicon file is missing or malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Token:
    word: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Term:
    kind: str
    label: str
    words: tuple[str, ...]
    #: The competitor a competitor or product term counts for.
    competitor: str | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    term: Term
    #: Token positions: the mention is tokens ``first .. last - 1``.
    first: int
    last: int


@dataclass(frozen=True)
class Lexicon:
    terms: tuple[Term, ...] = ()

    @cached_property
    def index(self) -> Mapping[str, tuple[Term, ...]]:
        """Terms by their first word."""
        by_first: dict[str, list[Term]] = {}
        for term in self.terms:
            by_first.setdefault(term.words[0], []).append(term)
        return {word: tuple(terms) for word, terms in by_first.items()}

    @property
    def competitors(self) -> frozenset[str]:
        return frozenset(t.competitor for t in self.terms if t.competitor is not None)


def tokens(text: str) -> list[Token]:
    """The words of ``text``, casefolded, with their character spans."""
    return [Token(m.group().casefold(), m.start(), m.end()) for m in _WORD.finditer(text)]


def variants(word: str) -> frozenset[str]:
    """The word itself and the base forms a simple suffix rule gives it."""
    found = {word}
    base = word
    for possessive in _POSSESSIVE:
        if base.endswith(possessive):
            base = base[: -len(possessive)]
            found.add(base)
    for suffix in _SUFFIXES:
        if not base.endswith(suffix) or len(base) - len(suffix) < _MIN_STEM:
            continue
        stem = base[: -len(suffix)]
        found.add(stem)
        if suffix in ("ing", "ed"):
            found.add(stem + "e")  # moving -> move, saved -> save
            if stem[-1] == stem[-2]:
                found.add(stem[:-1])  # cancelled -> cancel, shopping -> shop
    return frozenset(found)


def _matches_at(words: list[frozenset[str]], first: int, lexicon: Lexicon) -> list[Mention]:
    found = []
    for candidate in words[first]:
        for term in lexicon.index.get(candidate, ()):
            last = first + len(term.words)
            if last <= len(words) and all(
                term.words[k] in words[first + k] for k in range(1, len(term.words))
            ):
                found.append(Mention(term, first, last))
    return found


def find_mentions(text: str, lexicon: Lexicon) -> tuple[list[Token], list[Mention]]:
    """The text's tokens and its non-overlapping mentions, in text order.

    Of overlapping matches the longer wins; at equal length the earlier, then the kind
    listed first in ``KINDS``.
    """
    words = tokens(text)
    if not words or not lexicon.terms:
        return words, []
    forms = [variants(token.word) for token in words]
    candidates = [m for first in range(len(words)) for m in _matches_at(forms, first, lexicon)]
    candidates.sort(
        key=lambda m: (m.first - m.last, m.first, KINDS.index(m.term.kind), m.term.label)
    )
    taken = [False] * len(words)
    chosen = []
    for mention in candidates:
        if any(taken[mention.first : mention.last]):
            continue
        taken[mention.first : mention.last] = [True] * (mention.last - mention.first)
        chosen.append(mention)
    chosen.sort(key=lambda m: m.first)
    return words, chosen


# --- loading -----------------------------------------------------------------------------


def _phrase_words(phrase: Any, where: str) -> tuple[str, ...]:
    if not isinstance(phrase, str):
        raise LexiconError(f"{where}: a phrase must be a string, got {phrase!r}")
    words = tuple(token.word for token in tokens(phrase))
    if not words:
        raise LexiconError(f"{where}: the phrase {phrase!r} has no words")
    return words


def _phrases(value: Any, where: str) -> list[tuple[str, ...]]:
    if not isinstance(value, list) or not value:
        raise LexiconError(f"{where}: expected a non-empty list of phrases")
    return [_phrase_words(phrase, where) for phrase in value]


def _labelled(table: Any, kind: str, where: str, competitor: str | None = None) -> list[Term]:
    if not isinstance(table, dict):
        raise LexiconError(f"{where}: expected a table of label = [phrases]")
    return [
        Term(kind, label, words, competitor)
        for label, phrases in table.items()
        for words in _phrases(phrases, f"{where}.{label}")
    ]


def _competitor_terms(name: str, entry: Any, where: str) -> list[Term]:
    if not isinstance(entry, dict):
        raise LexiconError(f"{where}: expected a table with 'names' and optional 'products'")
    unknown = set(entry) - {"names", "products"}
    if unknown:
        raise LexiconError(f"{where}: unknown key(s) {sorted(unknown)}")
    terms = [
        Term(COMPETITOR, name, words, name)
        for words in _phrases(entry.get("names", [name]), f"{where}.names")
    ]
    products = entry.get("products", {})
    return terms + _labelled(products, COMPETITOR_PRODUCT, f"{where}.products", name)


def parse_lexicon(data: Mapping[str, Any], source: str = "lexicon") -> Lexicon:
    """A lexicon from parsed TOML; ``LexiconError`` names the first bad entry."""
    unknown = set(data) - {"competitors", *_PLAIN_TABLES}
    if unknown:
        raise LexiconError(f"{source}: unknown table(s) {sorted(unknown)}")
    terms: list[Term] = []
    competitors = data.get("competitors", {})
    if not isinstance(competitors, dict):
        raise LexiconError(f"{source}: [competitors] must be a table")
    for name, entry in competitors.items():
        terms += _competitor_terms(name, entry, f"{source}: competitors.{name}")
    for table, kind in _PLAIN_TABLES.items():
        terms += _labelled(data.get(table, {}), kind, f"{source}: {table}")
    seen: dict[tuple[str, ...], Term] = {}
    for term in terms:
        other = seen.setdefault(term.words, term)
        if other is not term:
            raise LexiconError(
                f"{source}: the phrase {' '.join(term.words)!r} is listed for both "
                f"{other.kind} {other.label!r} and {term.kind} {term.label!r}"
            )
    return Lexicon(tuple(terms))


BUILTIN = "builtin"
BUILTIN_PATH = Path(__file__).resolve().parents[1] / "data" / "lexicons.toml"


def load_lexicon(path: str | Path) -> Lexicon:
    """Read a lexicon file; an empty path is the empty lexicon (intelligence off) and
    ``builtin`` the starter lexicon shipped with the package."""
    if not str(path):
        return Lexicon()
    if str(path) == BUILTIN:
        path = BUILTIN_PATH
    try:
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise LexiconError(f"cannot read lexicon {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"lexicon {path} is not valid TOML: {exc}") from None
    return parse_lexicon(data, str(path))
