"""The benchmark runs end to end with tiny numbers and reports every step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO

pytestmark = pytest.mark.slow

TINY = [
    "--events", "3000",
    "--runs", "1",
    "--rate", "500",
    "--latency-seconds", "3",
    "--memory-customers", "1000",
    "--memory-events", "3000",
    "--http-events", "2000",
    "--http-lookup-rate", "100",
    "--http-ingest-rate", "200",
    "--http-seconds", "2",
    "--step-timeout", "60",
]  # fmt: skip


def test_tiny_benchmark_reports_every_step(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--bootstrap", bootstrap, *TINY, "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    measured = result["steps"]

    for step in ("scoring", "raw", "faust", "quix", "cxpulse", "scaling"):
        assert measured[step]["events_per_s"] > 0, step
    floor = measured["scoring"]["runs"][0]
    assert (floor["events"], floor["rejected"]) == (3000, 0)
    assert floor["outputs"] > 0
    assert 0 < result["ceilings"]["cxpulse_vs_faust_ceiling"] < 1
    run = measured["cxpulse"]["runs"][0]
    assert sum(run["per_worker_events"]) == 3000
    assert run["cpu_us_per_event"] > 0
    assert len(measured["scaling"]["two_workers"]["per_worker_events"]) == 2
    latency = measured["latency"]
    assert latency["count"] > 0
    assert 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"]
    assert latency["cpu_us_per_event"] > 0
    assert sum(w["count"] for w in latency["score_by_produce_time"]) > 0
    memory = measured["memory"]
    assert max(memory["peak_rss_mb"]) > 0
    assert memory["table_keys"]["customers"] > 0
    quix = measured["quix"]
    assert quix["count_events_per_s"] > 0
    assert [r["records"] for r in quix["runs"]["noop"] + quix["runs"]["count"]] == [3000, 3000]
    assert set(result["ratios"]) == {
        "cxpulse_vs_faust",
        "cxpulse_vs_raw",
        "two_vs_one",
        "cxpulse_vs_quix_count",
        "faust_vs_quix",
    }
    assert all(value > 0 for value in result["ratios"].values())
    assert "events/s" in done.stdout
    assert "worker CPU per event, live" in done.stdout
    assert "ceiling of (3)/(2)" in done.stdout
    http = measured["http"]
    assert http["ndjson_events_per_s"] > 0
    assert http["single_events_per_s"] > 0
    lookup = http["lookup"]
    assert lookup["lookups"] == 200
    assert lookup["failed"] == 0
    assert set(lookup["statuses"]) <= {"200", "404"}
    assert lookup["statuses"].get("200", 0) > 0
    assert 0 < lookup["p50_ms"] <= lookup["p99_ms"]
    assert {"http_ndjson_events_per_s", "http_lookup_p99_ms"} <= set(result["targets"])
    assert "7 HTTP ingest, NDJSON" in done.stdout
