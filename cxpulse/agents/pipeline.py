"""What agents are given: the app, its topics and tables, settings and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from cxpulse.agents.metrics import Metrics
from cxpulse.agents.redact import Redactor
from cxpulse.agents.settings import Settings


@dataclass(frozen=True)
class Pipeline:
    """The app and everything agents need, passed explicitly instead of module globals."""

    app: faust.App
    settings: Settings
    metrics: Metrics
    redactor: Redactor
    input_topic: Any
    events_topic: Any
    summaries_topic: Any
    alerts_topic: Any
    scores_topic: Any
    insights_topic: Any
    dead_letter_topic: Any
    raw_topics: dict[str, Any]
    customers: Any
    entities: Any
