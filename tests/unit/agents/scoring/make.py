"""Build v1 events for scoring tests: ids and times advance on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cxpulse.schemas.events import EVENT_ADAPTER, Event

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Events:
    """One customer's events; ``at`` is minutes after ``T0``."""

    def __init__(self, customer_id: str = "c1", prefix: str = "e") -> None:
        self.customer_id = customer_id
        self.prefix = prefix
        self.count = 0

    def make(self, type_: str, at: float, **fields: Any) -> Event:
        self.count += 1
        payload = {
            "event_id": f"{self.prefix}{self.count}",
            "type": type_,
            "occurred_at": (T0 + timedelta(minutes=at)).isoformat(),
            "customer_id": self.customer_id,
            **fields,
        }
        return EVENT_ADAPTER.validate_python(payload)

    def contact(
        self,
        interaction_id: str,
        at: float,
        outcome: str = "resolved",
        *,
        agent_id: str = "a1",
        queue_id: str = "q1",
        wait: float = 30.0,
        handle: float = 300.0,
    ) -> list[Event]:
        """A whole contact: started, connected, ended (two minutes later)."""
        route = {"interaction_id": interaction_id, "agent_id": agent_id, "queue_id": queue_id}
        return [
            self.make("interaction.started", at, channel="voice", **route),
            self.make("interaction.connected", at + 0.5, wait_seconds=wait, **route),
            self.make(
                "interaction.ended",
                at + 2,
                outcome=outcome,
                wait_seconds=wait,
                handle_seconds=handle,
                hold_seconds=0,
                transfers=0,
                **route,
            ),
        ]
