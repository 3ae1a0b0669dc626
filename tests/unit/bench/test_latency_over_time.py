from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest

from bench.steps import latency_over_time, output_latencies


def snapshot(event_id: str, at_ms: int) -> SimpleNamespace:
    return SimpleNamespace(value=orjson.dumps({"event_id": event_id}), timestamp=at_ms)


def test_latency_is_grouped_by_when_the_input_was_produced() -> None:
    produced = {"a": 0, "b": 1_000, "c": 5_000, "d": 9_999, "e": 10_000}
    scores = [
        snapshot("a", 100),
        snapshot("b", 1_200),
        snapshot("c", 8_000),
        snapshot("d", 13_999),
        snapshot("e", 10_300),
        snapshot("unknown", 50),
    ]

    windows = latency_over_time(produced, scores, window_s=5.0)

    assert [(w["from_s"], w["count"], w["p50_ms"]) for w in windows] == [
        (0.0, 2, 200),
        (5.0, 2, 4_000),
        (10.0, 1, 300),
    ]


def test_no_matched_snapshot_gives_no_windows() -> None:
    assert latency_over_time({"a": 0}, [snapshot("b", 10)]) == []


@pytest.mark.parametrize("evidence", [["a", "b"], ["b", "a", "missing"]])
def test_an_alert_counts_from_the_latest_produced_event_of_its_evidence(
    evidence: list[str],
) -> None:
    alert = SimpleNamespace(value=orjson.dumps({"evidence": evidence}), timestamp=5_000)

    found = output_latencies({"a": 1_000, "b": 3_000}, [snapshot("a", 1_500)], [alert])

    assert found == {"score": [500], "alert": [2_000]}
