"""Conversation intelligence (seed 001): what a note or comment says, and when it spikes.

``read_conversation`` turns one text into insights (one per mention), the summaries the
competitor entities aggregate (competitor and product mentions count for their competitor,
churn intent for the single ``CHURN_ENTITY``), and the relationship cues to remember for
the customer.  ``judge_mentions`` decides whether a closed window's mentions spike above
that entity's own baseline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cxpulse.schemas.outputs import Insight
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.eventtime import from_us
from cxpulse.scoring.lexicon import (
    CHURN_INTENT,
    COMPETITOR,
    COMPETITOR_PRODUCT,
    CUE,
    Mention,
    Token,
    find_mentions,
)
from cxpulse.scoring.summary import MENTION, InteractionSummary

__all__ = [
    "CHURN_ENTITY",
    "Conversation",
    "MentionWindow",
    "insight_id",
    "judge_mentions",
    "read_conversation",
    "redacted",
    "remember_cues",
    "snippet",
]

#: The competitor entity that counts churn-intent phrases: they name no one competitor.
CHURN_ENTITY = "*"
INSIGHT_ID_HEX = 32
_ELLIPSIS = "\u2026"


@dataclass(frozen=True, slots=True)
class Conversation:
    insights: tuple[Insight, ...] = ()
    summaries: tuple[InteractionSummary, ...] = ()
    #: Relationship cue labels, in text order.
    cues: tuple[str, ...] = ()


def insight_id(event_id: str, kind: str, term: str, position: int) -> str:
    material = "\x1f".join((event_id, kind, term, str(position))).encode()
    return hashlib.sha256(material).hexdigest()[:INSIGHT_ID_HEX]


def snippet(text: str, words: list[Token], mention: Mention, width: int) -> str:
    """The mention with up to ``width`` words either side, whitespace collapsed."""
    first = max(0, mention.first - width)
    last = min(len(words), mention.last + width)
    body = " ".join(text[words[first].start : words[last - 1].end].split())
    prefix = f"{_ELLIPSIS} " if first > 0 else ""
    suffix = f" {_ELLIPSIS}" if last < len(words) else ""
    return f"{prefix}{body}{suffix}"


def _routed_to(mention: Mention) -> str | None:
    term = mention.term
    if term.kind in (COMPETITOR, COMPETITOR_PRODUCT):
        return term.competitor
    if term.kind == CHURN_INTENT:
        return CHURN_ENTITY
    return None


def read_conversation(
    text: str,
    *,
    event_id: str,
    customer_id: str,
    interaction_id: str | None,
    at_us: int,
    sentiment: float | None,
    config: ScoringConfig,
) -> Conversation:
    """The insights, competitor summaries and cues of one note or feedback comment."""
    words, mentions = find_mentions(text, config.lexicon)
    if not mentions:
        return Conversation()
    insights, summaries, cues = [], [], []
    occurred_at = from_us(at_us)
    for mention in mentions[: config.max_insights_per_event]:
        term = mention.term
        identity = insight_id(event_id, term.kind, term.label, mention.first)
        insights.append(
            Insight.model_construct(
                insight_id=identity,
                kind=term.kind,
                term=term.label,
                customer_id=customer_id,
                interaction_id=interaction_id,
                occurred_at=occurred_at,
                snippet=snippet(text, words, mention, config.snippet_words),
                sentiment=sentiment,
                event_id=event_id,
            )
        )
        if term.kind == CUE:
            cues.append(term.label)
        entity = _routed_to(mention)
        if entity is not None:
            summaries.append(
                InteractionSummary(
                    summary_id=identity,
                    kind=MENTION,
                    event_id=event_id,
                    customer_id=customer_id,
                    occurred_at_us=at_us,
                    interaction_id=interaction_id,
                    term=entity,
                    evidence=(event_id,),
                )
            )
    return Conversation(tuple(insights), tuple(summaries), tuple(cues))


def remember_cues(cues: list[str], new: Iterable[str], limit: int) -> bool:
    """Put ``new`` cues first (latest first, no repeats), keep ``limit``; True if changed."""
    before = list(cues)
    for cue in new:
        if cue in cues:
            cues.remove(cue)
        cues.insert(0, cue)
    del cues[limit:]
    return cues != before


def redacted(
    insight: Insight, text: Callable[[str], str], customer_id: Callable[[str], str]
) -> Insight:
    """The insight as it may leave the pipeline: snippet redacted, customer id pseudonymised."""
    return insight.model_copy(
        update={"snippet": text(insight.snippet), "customer_id": customer_id(insight.customer_id)}
    )


# --- spikes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MentionWindow:
    mentions: int
    #: The baseline of the earlier windows: an EWMA of mentions per window.
    expected: float
    #: Windows the baseline has seen (empty ones included).
    history: int
    spike: bool


def judge_mentions(
    baseline: dict[str, float], mentions: int, skipped: int, config: ScoringConfig
) -> MentionWindow:
    """Judge a closed window against the baseline of earlier windows, then fold it in.

    ``skipped``: windows without any mention between the previous judged window and this
    one; each counts as a window of zero mentions.  A spike needs a baseline of at least
    ``spike_min_windows`` windows, at least ``spike_min_mentions`` mentions, and more than
    ``spike_factor`` times the baseline.
    """
    alpha = config.spike_baseline_alpha
    history = round(baseline.get("history", 0.0))
    expected = baseline.get("mentions", 0.0) * (1 - alpha) ** skipped if history else 0.0
    history += skipped if history else 0
    spike = (
        history >= config.spike_min_windows
        and mentions >= config.spike_min_mentions
        and mentions > config.spike_factor * expected
    )
    baseline["mentions"] = expected + alpha * (mentions - expected) if history else float(mentions)
    baseline["history"] = float(history + 1)
    return MentionWindow(mentions, expected, history, spike)
