"""The lookups' in-memory view of the scores and alerts topics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cxpulse.api.lookup import Materialised


def snapshot(entity_id: str, as_of: str, balance: float) -> dict[str, Any]:
    return {
        "entity_type": "customer",
        "entity_id": entity_id,
        "as_of": as_of,
        "event_id": f"ev-{as_of}",
        "scores": {"dazzle_balance": balance},
        "labels": {"loyalty": "dazzled"},
    }


def alert(group: str, status: str, occurred_at: str, entity_id: str = "c1") -> dict[str, Any]:
    return {
        "alert_id": f"{group}-{status}-{occurred_at}",
        "kind": "jeopardy",
        "entity_type": "customer",
        "entity_id": entity_id,
        "occurred_at": occurred_at,
        "group_key": group,
        "status": status,
    }


def test_latest_snapshot_by_event_time_whatever_the_arrival_order() -> None:
    view = Materialised()
    view.add_snapshot(snapshot("c1", "2025-01-06T10:00:00+00:00", 1.0))
    view.add_snapshot(snapshot("c1", "2025-01-06T12:00:00+00:00", 3.0))
    view.add_snapshot(snapshot("c1", "2025-01-06T11:00:00+00:00", 2.0))
    found = view.entity("customer", "c1")
    assert found is not None
    assert found["snapshot"]["scores"]["dazzle_balance"] == 3.0
    assert view.entity("customer", "c2") is None
    assert view.entity("agent", "c1") is None


def test_conditions_by_group_key_resolved_ones_leave_firing() -> None:
    view = Materialised()
    view.add_snapshot(snapshot("c1", "2025-01-06T10:00:00+00:00", 1.0))
    view.add_alert(alert("burst@1", "firing", "2025-01-06T10:00:00+00:00"))
    view.add_alert(alert("burst@1", "firing", "2025-01-06T11:00:00+00:00"))
    view.add_alert(alert("burst@2", "firing", "2025-01-06T11:30:00+00:00"))
    assert [a["group_key"] for a in view.incidents("firing")] == ["burst@2", "burst@1"]
    view.add_alert(alert("burst@1", "resolved", "2025-01-06T12:00:00+00:00"))
    assert [a["group_key"] for a in view.incidents("firing")] == ["burst@2"]
    assert [a["group_key"] for a in view.incidents("resolved")] == ["burst@1"]
    assert len(view.incidents("all")) == 2
    found = view.entity("customer", "c1")
    assert found is not None
    assert [a["group_key"] for a in found["alerts"]] == ["burst@2"]


def test_firing_conditions_expire_by_event_time() -> None:
    view = Materialised(firing_expiry=timedelta(hours=24))
    view.add_alert(alert("old", "firing", "2025-01-01T00:00:00+00:00"))
    view.add_alert(alert("new", "firing", "2025-01-03T00:00:00+00:00"))
    assert [a["group_key"] for a in view.incidents("firing")] == ["new"]


def test_records_without_the_fields_are_ignored() -> None:
    view = Materialised()
    view.add_snapshot({"entity_type": "customer"})
    view.add_alert({"kind": "x"})
    assert view.snapshots == {}
    assert view.conditions == {}


def test_rules_ranked_by_their_latest_friction() -> None:
    view = Materialised()
    for rule, friction, as_of in (
        ("r-low", 10.0, "2025-01-06T10:00:00+00:00"),
        ("r-high", 70.0, "2025-01-06T10:00:00+00:00"),
        ("r-mid", 90.0, "2025-01-06T09:00:00+00:00"),
        ("r-mid", 40.0, "2025-01-06T11:00:00+00:00"),
    ):
        view.add_snapshot(
            {
                "entity_type": "rule",
                "entity_id": rule,
                "as_of": as_of,
                "event_id": f"window:{as_of}",
                "scores": {"friction": friction},
            }
        )
    view.add_snapshot(snapshot("c1", "2025-01-06T10:00:00+00:00", 1.0))
    assert [r["entity_id"] for r in view.rules()] == ["r-high", "r-mid", "r-low"]
    assert view.rules()[1]["snapshot"]["scores"]["friction"] == 40.0
