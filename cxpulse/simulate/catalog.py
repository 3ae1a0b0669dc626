"""What the simulated contact center is made of: channels, queues, rules, texts, time.

Plain constants and small helpers, no randomness: the other modules draw from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SOURCE = "cxpulse-sim"
DEFAULT_START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)

Json = dict[str, Any]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS

NAMED_QUEUES = (
    ("q-billing", "svc-billing"),
    ("q-broadband", "svc-broadband"),
    ("q-mobile", "svc-mobile-network"),
    ("q-orders", "svc-web-shop"),
    ("q-deliveries", "svc-delivery"),
    ("q-accounts", "svc-accounts"),
)

POLICY_RULES = (
    "rule-refund-needs-receipt",
    "rule-card-payment-only",
    "rule-id-check-by-post",
    "rule-returns-within-14-days",
    "rule-callback-office-hours",
)


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    #: Share of interactions on this channel.
    weight: float
    mean_wait_s: float
    #: Mean time a customer waits before hanging up; None: asynchronous, nobody hangs up.
    mean_patience_s: float | None
    handle_factor: float


CHANNELS = (
    Channel("voice", 0.50, 45.0, 240.0, 1.0),
    Channel("chat", 0.25, 30.0, 300.0, 1.2),
    Channel("email", 0.10, 1_200.0, None, 0.6),
    Channel("sms", 0.05, 300.0, None, 0.5),
    Channel("social", 0.05, 600.0, None, 0.5),
    Channel("video", 0.05, 60.0, 240.0, 1.1),
)
CHANNEL_NAMES = tuple(channel.name for channel in CHANNELS)
CHANNEL_CUM_WEIGHTS = tuple(
    sum(channel.weight for channel in CHANNELS[: i + 1]) for i in range(len(CHANNELS))
)

#: Contacts one full-time agent handles per hour, by channel: a voice agent 6-10, an email
#: agent 2-4; chat agents hold a few conversations at once.
DEFAULT_AGENT_RATES: tuple[tuple[str, float], ...] = (
    ("voice", 8.0),
    ("chat", 10.0),
    ("email", 3.0),
    ("sms", 6.0),
    ("social", 6.0),
    ("video", 5.0),
)
#: ``erratic_on`` names a channel's full-time agents, or this: the part-time agents.
PART_TIME = "part_time"

# Quality of one contact, 0 (awful) .. 1 (great).  Every behaviour is linear in it, so
# steady and erratic agents, whose quality has the same mean, have the same mean behaviour.
STEADY_QUALITY_SD = 0.06
ERRATIC_SWING = 0.4
ERRATIC_QUALITY_SD = 0.05

DAZZLE_TEXT = {
    "proactive_outreach": "Called the customer before the renewal to move them to a cheaper plan.",
    "goodwill": "Refunded the delivery fee without being asked.",
    "personalised_help": "Set up the new router together with the customer, step by step.",
    "compliment": "Customer said it was the best service they ever had.",
}
BROKEN_TEXT = {
    "missed_callback": "Promised callback did not happen.",
    "billing_error": "Customer was charged twice.",
    "late_delivery": "Delivery arrived three days late.",
    "wrong_order": "Wrong item delivered.",
}
KEPT_TEXT = {
    "missed_callback": "Callback made at the promised time.",
    "billing_error": "Bill correct and on time.",
    "late_delivery": "Delivered on the promised day.",
    "wrong_order": "Order delivered complete.",
}
NOTES = (
    "Customer compared our fibre plan with Nordnet's and said theirs is cheaper.",
    "Customer loves the Orbit phone they bought last year.",
    "Customer bought the router at Elkjop because it was in stock there.",
    "Customer mentioned they switched from Telvia because of the app.",
    "Customer is moving house next month and needs the service at the new address.",
    "Customer just had a baby and asked for a quieter callback time.",
    "Customer asked whether we sell the Nimbus tablet; they saw it at a competitor.",
    "Customer asked about the status of their order.",
)
#: Competitors the notes name; cxpulse/data/lexicons.toml knows them.
COMPETITORS = ("Nordnet", "Telvia", "Skylink", "Fjordtel")
COMPETITOR_NOTES = (
    "Customer said {competitor} offered them a better deal on fibre.",
    "Customer asked whether we can match the {competitor} price.",
    "Customer compared our coverage with {competitor}.",
    "Customer is thinking of switching to {competitor} when the contract ends.",
)
SPIKE_NOTES = (
    "Customer saw the {competitor} campaign on TV and wants the same offer.",
    "Customer says {competitor} is giving away free routers this week.",
)
GOOD_COMMENTS = (
    "The agent knew exactly what to do.",
    "Quick and friendly, thank you.",
    "Problem solved on the first call.",
)
BAD_COMMENTS = (
    "I had to explain my problem three times.",
    "Transferred twice and still not fixed.",
    "Long wait and no answer.",
)


def queues(count: int) -> tuple[list[str], list[str]]:
    """Queue ids and the service each queue's contacts depend on."""
    named = NAMED_QUEUES[:count]
    extra = [(f"q-{i}", f"svc-{i}") for i in range(len(named), count)]
    pairs = [*named, *extra]
    return [queue for queue, _ in pairs], [service for _, service in pairs]


def clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


# --- event time: integer milliseconds since the epoch -------------------------------------


def rfc3339(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix."""
    return ms_to_rfc3339(to_ms(moment))


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // _MS


def ms_to_rfc3339(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{datetime.fromtimestamp(seconds, UTC).isoformat()[:19]}.{millis:03d}Z"


def ms_to_datetime(ms: int) -> datetime:
    return EPOCH + ms * _MS
