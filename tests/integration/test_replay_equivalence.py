"""The streaming pipeline and `cxpulse replay` give the same alerts for the same events."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.integration.conftest import Worker, run_cxpulse
from tests.integration.kafka_io import collect_ids, produce_events

SEED, COUNT = 11, 4_000


def test_stream_alerts_equal_replay_alerts(worker: Worker, tmp_path: Path) -> None:
    events_file, alerts_file = tmp_path / "events.jsonl", tmp_path / "alerts.jsonl"
    run_cxpulse(
        "simulate", "--seed", str(SEED), "--count", str(COUNT), "--output", str(events_file)
    )
    run_cxpulse("replay", str(events_file), "--alerts", str(alerts_file))
    expected = {
        orjson.loads(line)["alert_id"]: orjson.loads(line)
        for line in alerts_file.read_bytes().splitlines()
    }
    assert len(expected) > 50, "the simulation should raise a fair number of alerts"
    assert {a["kind"] for a in expected.values()} >= {"jeopardy", "core_service_failure"}

    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    events = [orjson.loads(line) for line in events_file.read_bytes().splitlines()]
    produce_events(bootstrap, worker.topic("input"), events)

    streamed = collect_ids(bootstrap, worker.topic("alerts"), set(expected), timeout_s=150.0)
    ids = [a["alert_id"] for a in streamed]
    assert len(ids) == len(set(ids)), "an alert was published twice"
    missing = sorted(
        (expected[i]["kind"], expected[i]["entity_id"]) for i in set(expected) - set(ids)
    )
    assert set(ids) == set(expected), {
        "missing": missing[:20],
        "extra": sorted(set(ids) - set(expected))[:5],
    }
    for alert in streamed:
        assert alert == expected[alert["alert_id"]]
