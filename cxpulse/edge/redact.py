"""Remove personal data from free text that leaves the pipeline; pseudonymise customer ids.

Pure functions over strings.  What is found, and the placeholder it becomes:

* ``[email]``: e-mail addresses (RFC 5322 atext local parts, dotted domain names);
* ``[national-id]``: US social security numbers (``123-45-6789`` or with spaces, never-issued
  areas 000, 666 and 9xx excluded); UK National Insurance numbers (``AB 12 34 56 C``);
  Spanish DNI (``12345678Z``) and NIE (``X1234567L``), check letter verified; Italian
  codice fiscale (16-character format); French NIR (social security number, 15 digits,
  check key verified);
* ``[iban]``: IBANs, plain or grouped by spaces, mod-97 check verified;
* ``[card]``: payment card numbers: 13 to 19 digits, plain or in groups of three or more
  digits joined by single spaces or dashes, only when the Luhn check passes;
* ``[phone]``: international numbers (``+44 20 7946 0958``, ``0044 …``), national numbers
  with a trunk 0 (``020 7946 0958``, ``06 12 34 56 78``, ``0612345678``), North American
  numbers (``(555) 123-4567``, ``555.123.4567``), local ``555-1234``, and grouped nine-digit
  numbers starting 6 to 9 (``612 345 678``).  Plain short numbers ("3 days", "order 12345"),
  dates and decimals are left alone;
* ``[redacted]``: whatever the configured extra patterns match (applied last).

Validated patterns (Luhn, mod 97, check letters) keep ordinary numbers readable; when in
doubt a long digit sequence is redacted, never kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cxpulse.schemas.outputs import Alert, EntityType, ScoreSnapshot

if TYPE_CHECKING:
    from cxpulse.config.settings import Settings

EMAIL, NATIONAL_ID, IBAN, CARD, PHONE, REDACTED = (
    "[email]",
    "[national-id]",
    "[iban]",
    "[card]",
    "[phone]",
    "[redacted]",
)
PSEUDONYM_PREFIX = "anon-"
PSEUDONYM_HEX_CHARS = 20

Rule = Callable[[str], str]

# --- e-mail ------------------------------------------------------------------------------

_LOCAL = r"[\w.!#$%&'*+/=?^`{|}~-]"
_LABEL = r"\w(?:[\w-]*\w)?"
# Matching starts only where a run of local-part characters starts: linear time on long runs.
_EMAIL = re.compile(rf"(?<!{_LOCAL}){_LOCAL}+@(?:{_LABEL}\.)+{_LABEL}")


def _emails(text: str) -> str:
    return _EMAIL.sub(EMAIL, text)


# --- national ids ------------------------------------------------------------------------

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni_valid(match: re.Match[str]) -> bool:
    compact = re.sub(r"[ -]", "", match.group(0)).upper()
    digits = compact[:-1].translate(str.maketrans("XYZ", "012"))
    return _DNI_LETTERS[int(digits) % 23] == compact[-1]


def _nir_valid(match: re.Match[str]) -> bool:
    compact = match.group(0).replace(" ", "").upper()
    body = compact[:13].replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(compact[13:])


def _ssn_valid(match: re.Match[str]) -> bool:
    area, group, serial = re.split(r"[ -]", match.group(0))
    return not (area in ("000", "666") or area.startswith("9") or group == "00" or serial == "0000")


def _always(match: re.Match[str]) -> bool:
    return True


_NATIONAL_IDS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], bool]], ...] = (
    # US SSN: the same separator twice.
    (re.compile(r"(?<![\w-])\d{3}([ -])\d{2}\1\d{4}(?![\w-])", re.ASCII), _ssn_valid),
    # UK NINO: prefixes BG, GB, KN, NK, NT, TN, ZZ and letters D, F, I, Q, U, V never issued.
    (
        re.compile(
            r"(?<![A-Za-z0-9])(?!(?:BG|GB|KN|NK|NT|TN|ZZ))[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
            r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])",
            re.ASCII | re.IGNORECASE,
        ),
        _always,
    ),
    # Spanish DNI and NIE.
    (
        re.compile(r"(?<![A-Za-z0-9])(?:\d{8}|[XYZ]-?\d{7})[ -]?[A-Z](?![A-Za-z0-9])", re.I),
        _dni_valid,
    ),
    # Italian codice fiscale.
    (
        re.compile(
            r"(?<![A-Za-z0-9])[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z](?![A-Za-z0-9])",
            re.ASCII,
        ),
        _always,
    ),
    # French NIR: sex, year, month, department (2A/2B for Corsica), commune, order, key.
    (
        re.compile(
            r"(?<![\w])[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?![\w])",
            re.ASCII,
        ),
        _nir_valid,
    ),
)


def _replace_if(
    valid: Callable[[re.Match[str]], bool], mark: str
) -> Callable[[re.Match[str]], str]:
    return lambda match: mark if valid(match) else match.group(0)


def _national_ids(text: str) -> str:
    for pattern, valid in _NATIONAL_IDS:
        text = pattern.sub(_replace_if(valid, NATIONAL_ID), text)
    return text


# --- IBAN and card numbers: checksummed windows of a run of groups ------------------------


def _iban_valid(groups: list[str]) -> bool:
    compact = "".join(groups)
    if not (15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card_valid(groups: list[str]) -> bool:
    """Card numbers are printed in groups of at least three digits (the last may be short)."""
    digits = "".join(groups)
    return (
        13 <= len(digits) <= 19
        and all(len(group) >= 3 for group in groups[:-1])
        and luhn_valid(digits)
    )


def _window_rule(
    run: re.Pattern[str],
    group: re.Pattern[str],
    valid: Callable[[list[str]], bool],
    max_chars: int,
    mark: str,
) -> Rule:
    """A rule for identifiers printed as groups (``4111 1111 …``) inside a longer run.

    In each ``run`` match, every group that belongs to some ``valid`` window of consecutive
    groups (at most ``max_chars`` characters without separators) is covered, and each stretch
    of covered groups becomes one ``mark``: overlapping candidates leave no part visible.
    """

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        spans = [(m.start(), m.end()) for m in group.finditer(text)]
        covered = [False] * len(spans)
        for first in range(len(spans)):
            window: list[str] = []
            for last in range(first, len(spans)):
                window.append(text[spans[last][0] : spans[last][1]])
                if sum(map(len, window)) > max_chars:
                    break
                if valid(window):
                    covered[first : last + 1] = [True] * (last + 1 - first)
        pieces: list[str] = []
        kept_from = 0
        for index, (start, end) in enumerate(spans):
            if covered[index] and (index == 0 or not covered[index - 1]):
                pieces += [text[kept_from:start], mark]
            if covered[index]:
                kept_from = end
        pieces.append(text[kept_from:])
        return "".join(pieces)

    return lambda text: run.sub(replace, text)


_ibans = _window_rule(
    re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}[A-Z0-9]*(?: [A-Z0-9]+)*", re.ASCII),
    re.compile(r"[A-Z0-9]+", re.ASCII),
    _iban_valid,
    34,
    IBAN,
)
_cards = _window_rule(
    re.compile(r"(?<!\d)\d+(?:[ -]\d+)*", re.ASCII),
    re.compile(r"\d+", re.ASCII),
    _card_valid,
    19,
    CARD,
)

# --- phone numbers -----------------------------------------------------------------------

# Between two digits: nothing, or one or two of space, dot, dash and parentheses.
_SEP = r"[ .()-]{0,2}"
_BEFORE = r"(?<![\w+])(?<!\d\.)"
_AFTER = r"(?!\w)(?!\.\d)"
_PHONE = re.compile(
    _BEFORE
    + r"(?:"
    + rf"\+[1-9](?:{_SEP}\d){{6,14}}"  # +CC ...: 7 to 15 digits (E.164)
    + rf"|00[1-9](?:{_SEP}\d){{6,13}}"  # 00CC ...
    + rf"|\(?0[1-9](?:{_SEP}\d){{7,10}}"  # national trunk 0: 9 to 12 digits
    + r"|\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}"  # North America
    + r"|[6-9]\d{2}(?:[ .-]\d{3}){2}|[6-9]\d{2}(?:[ .-]\d{2}){3}"  # nine digits, grouped
    + r"|\d{3}-\d{4}"  # local, with its dash
    + r")"
    + _AFTER,
    re.ASCII,
)
_DATE = re.compile(r"\(?(?:\d{4}-\d{2}-\d{2}|\d{2}[./-]\d{2}[./-]\d{4})(?!\d)", re.ASCII)


def _not_a_date(match: re.Match[str]) -> bool:
    return _DATE.match(match.group(0)) is None


def _phones(text: str) -> str:
    return _PHONE.sub(_replace_if(_not_a_date, PHONE), text)


# --- the whole ---------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (_emails, _national_ids, _ibans, _cards, _phones)


def redact(text: str, extra: Sequence[re.Pattern[str]] = ()) -> str:
    """``text`` with personal data replaced by typed placeholders such as ``[card]``."""
    for rule in RULES:
        text = rule(text)
    for pattern in extra:
        text = pattern.sub(REDACTED, text)
    return text


def pseudonymise(customer_id: str, key: bytes) -> str:
    """A stable, key-dependent stand-in: ``anon-`` and 20 hex digits of HMAC-SHA256."""
    digest = hmac.new(key, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_CHARS]


@dataclass(frozen=True)
class Redactor:
    """Redaction as configured: built once, applied to every text and id that leaves."""

    extra: tuple[re.Pattern[str], ...] = ()
    pseudonym_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        key = settings.pseudonym_key
        return cls(
            extra=tuple(re.compile(pattern) for pattern in settings.redact_extra_patterns),
            pseudonym_key=(
                key.get_secret_value().encode()
                if settings.pseudonymise_customer_ids and key is not None
                else None
            ),
        )

    def text(self, text: str) -> str:
        return redact(text, self.extra)

    def customer_id(self, customer_id: str) -> str:
        """The pseudonym when pseudonymisation is on, else the id itself."""
        if self.pseudonym_key is None:
            return customer_id
        return pseudonymise(customer_id, self.pseudonym_key)

    def _entity_id(self, entity_type: EntityType, entity_id: str) -> str:
        return self.customer_id(entity_id) if entity_type is EntityType.CUSTOMER else entity_id

    def alert(self, alert: Alert) -> Alert:
        """The alert as it may leave the pipeline (stream and replay alike).

        A pseudonymised customer id is replaced in the reason sentence too, which names the
        customer it is about.
        """
        entity_id = self._entity_id(alert.entity_type, alert.entity_id)
        reason = self.text(alert.reason)
        if entity_id != alert.entity_id:
            reason = reason.replace(alert.entity_id, entity_id)
        return alert.model_copy(update={"reason": reason, "entity_id": entity_id})

    def snapshot(self, snapshot: ScoreSnapshot) -> ScoreSnapshot:
        entity_id = self._entity_id(snapshot.entity_type, snapshot.entity_id)
        if entity_id == snapshot.entity_id:
            return snapshot
        return snapshot.model_copy(update={"entity_id": entity_id})
