"""The streaming pipeline and `cxpulse replay` give the same alerts for the same events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.integration.conftest import Worker, run_cxpulse
from tests.integration.kafka_io import collect_ids, produce_events

SEED, COUNT = 11, 10_000


def read_jsonl(path: Path) -> dict[str, dict[str, Any]]:
    return {
        orjson.loads(line)["alert_id"]: orjson.loads(line)
        for line in path.read_bytes().splitlines()
    }


def test_stream_alerts_and_notices_equal_replay_alerts(worker: Worker, tmp_path: Path) -> None:
    events_file = tmp_path / "events.jsonl"
    alerts_file, notices_file = tmp_path / "alerts.jsonl", tmp_path / "notices.jsonl"
    run_cxpulse(
        "simulate", "--seed", str(SEED), "--count", str(COUNT), "--output", str(events_file)
    )
    run_cxpulse(
        "replay", str(events_file), "--alerts", str(alerts_file), "--notices", str(notices_file)
    )
    expected = {"alerts": read_jsonl(alerts_file), "notices": read_jsonl(notices_file)}
    assert len(expected["alerts"]) > 10, "the simulation should raise a fair number of alerts"
    assert {a["kind"] for a in expected["alerts"].values()} >= {"jeopardy"}
    assert {a["status"] for a in expected["alerts"].values()} == {"firing", "resolved"}
    assert len(expected["notices"]) > 50
    assert {a["kind"] for a in expected["notices"].values()} >= {"core_service_failure"}
    assert {a["severity"] for a in expected["notices"].values()} == {"info"}

    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    events = [orjson.loads(line) for line in events_file.read_bytes().splitlines()]
    produce_events(bootstrap, worker.topic("input"), events)

    for topic, wanted in expected.items():
        streamed = collect_ids(bootstrap, worker.topic(topic), set(wanted), timeout_s=150.0)
        ids = [a["alert_id"] for a in streamed]
        assert len(ids) == len(set(ids)), f"an alert was published twice on {topic}"
        missing = sorted(
            (wanted[i]["kind"], wanted[i]["entity_id"]) for i in set(wanted) - set(ids)
        )
        assert set(ids) == set(wanted), {
            "topic": topic,
            "missing": missing[:20],
            "extra": sorted(set(ids) - set(wanted))[:5],
        }
        for alert in streamed:
            assert alert == wanted[alert["alert_id"]]
