"""The real Prometheus scrapes a real worker: every dashboard and rule query returns data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import REPO, Worker, free_port, make_worker
from tests.integration.kafka_io import produce_raw
from tests.unit.deploy.test_dashboards import (
    DASHBOARDS,
    RECORDING_RULES,
    RULE_FILES,
    extract_promql,
)

pytestmark = pytest.mark.slow

SHORT_WINDOWS = {
    "CXPULSE_ENTITY_WINDOW_MINUTES": "10",
    "CXPULSE_ALLOWED_LATENESS_MINUTES": "2",
    "CXPULSE_ENTITY_MIN_SAMPLES": "3",
    "CXPULSE_RULE_MIN_SAMPLES": "2",
}


@pytest.fixture(scope="module")
def fed_worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A worker fed a fixed, seeded simulation; short windows so that agent, queue, service,
    competitor and rule windows close within its ~50 minutes of event time."""
    running = make_worker(bootstrap, tmp_path_factory.mktemp("prom-worker"), **SHORT_WINDOWS)
    running.start()
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cxpulse.commands.cli",
                "simulate",
                "--count",
                "6000",
                "--seed",
                "5",
                "--rate",
                "0",
                "--start",
                "2026-01-05T08:00:00Z",
            ],
            env=running.env,
            cwd=REPO,
            check=True,
            timeout=120,
        )
        produce_raw(bootstrap, running.topic("input"), [b"{not json", b'{"type": "x"}'])
        yield running
    finally:
        running.stop()


def query(port: int, expr: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        return dict(json.load(response))


@pytest.fixture(scope="module")
def prometheus(fed_worker: Worker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed (Debian: apt-get install prometheus)")
    tmp = tmp_path_factory.mktemp("prometheus")
    rules = [str(path) for path in RULE_FILES]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": rules,
        "scrape_configs": [
            {
                "job_name": "cxpulse-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{fed_worker.web_port}"]}],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(json.dumps(config))  # JSON is valid YAML
    port = free_port()
    with (tmp / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if query(port, "cxpulse_worker_up")["data"]["result"]:
                        break
                except OSError:
                    pass
                time.sleep(1)
            time.sleep(20)  # enough samples for rate() over the dashboards' 1m windows
            yield port
        finally:
            process.kill()
            process.wait(10)


DATA_QUERIES = sorted(
    {expr for path in [*DASHBOARDS, RECORDING_RULES] for expr in extract_promql(path)}
)
ALERT_QUERIES = sorted(
    {expr for path in RULE_FILES if path != RECORDING_RULES for expr in extract_promql(path)}
)


def test_the_deploy_files_have_queries() -> None:
    assert len(DATA_QUERIES) > 20
    assert ALERT_QUERIES


def test_every_dashboard_and_recording_query_returns_data(prometheus: int) -> None:
    empty = [expr for expr in DATA_QUERIES if not _result(prometheus, expr)]
    assert not empty, f"{len(empty)} of {len(DATA_QUERIES)} queries returned no data: {empty}"


def test_every_alerting_rule_expression_is_valid(prometheus: int) -> None:
    for expr in ALERT_QUERIES:
        assert query(prometheus, expr)["status"] == "success", expr


def _result(port: int, expr: str) -> list[Any]:
    answer = query(port, expr)
    assert answer["status"] == "success", (expr, answer)
    return list(answer["data"]["result"])
