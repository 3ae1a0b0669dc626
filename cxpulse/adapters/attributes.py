"""Survey and outcome data carried in flat key/value attributes.

Amazon Connect contact attributes and Twilio task attributes are free-form maps that contact
flows, survey tools and agents write to.  cxpulse reads a small documented set of keys from
them (see docs/adapters.md): ``csat``, ``nps``, ``effort`` (alias ``ces``) and
``survey_comment`` for a survey, and ``cxpulse_outcome`` to state an interaction's outcome
explicitly.  Keys match ignoring case, ``_`` and ``-``.
"""

from __future__ import annotations

from typing import Any

from cxpulse.adapters.base import INVALID_VALUE, AdapterError, Fields, note_text
from cxpulse.schemas.events import Outcome

OUTCOME_KEY = "cxpulse_outcome"

_SURVEY_FIELDS = {
    "csat": "csat",
    "nps": "nps",
    "effort": "effort",
    "ces": "effort",
    "surveycomment": "comment",
}


def _normalised(key: str) -> str:
    return key.replace("_", "").replace("-", "").casefold()


def survey_from(attributes: Fields | None) -> dict[str, Any]:
    """The ``feedback.received`` fields found in the attributes (empty when none)."""
    if attributes is None:
        return {}
    found: dict[str, Any] = {}
    for key in attributes.names():
        field = _SURVEY_FIELDS.get(_normalised(key))
        if field is None or field in found:
            continue
        value = note_text(attributes.text(key)) if field == "comment" else attributes.integer(key)
        if value is not None:
            found[field] = value
    return found


def outcome_from(attributes: Fields | None) -> Outcome | None:
    """The outcome stated in ``cxpulse_outcome``, if any."""
    if attributes is None:
        return None
    matches = [key for key in attributes.names() if _normalised(key) == _normalised(OUTCOME_KEY)]
    stated = attributes.text(matches[0]) if matches else None
    if stated is None:
        return None
    try:
        return Outcome(stated.casefold())
    except ValueError:
        allowed = ", ".join(outcome.value for outcome in Outcome)
        raise AdapterError(
            INVALID_VALUE,
            f"{attributes.where(matches[0])} must be one of {allowed}, got {stated!r}",
        ) from None
