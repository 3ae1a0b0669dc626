"""The crash soak, small: kill -9 the worker at a few seeded, spread-out points of a stream
whose entity windows close all along, once also while the restarted worker restores its
tables; after the last restart, read_committed consumers must see exactly what
`cxpulse replay` computes: the same alert ids with the same content, the same last score
snapshot of every customer, agent, queue, rule and competitor (issue #34).

``CXPULSE_SOAK_RUNS`` (default 3) sets the number of kill plans, ``CXPULSE_SOAK_EVENTS``
the events per run and ``CXPULSE_SOAK_SEED`` the seed, for local soaks:
``CXPULSE_SOAK_RUNS=50 make test-integration PYTEST_ARGS="-k crash_soak -s"``, or
``python -m bench.soak --runs 50`` directly.  A run that differs keeps its worker log and
data dir under var/crash-soak/ (pytest's own temp dirs are recycled after three sessions).
"""

from __future__ import annotations

import os
import time

import pytest

from bench.soak import Options, run_soak
from tests.integration.conftest import REPO

RUNS = int(os.environ.get("CXPULSE_SOAK_RUNS", "3"))
EVENTS = int(os.environ.get("CXPULSE_SOAK_EVENTS", "12000"))
SEED = int(os.environ.get("CXPULSE_SOAK_SEED", "34"))
#: A run takes 20-40 s on two busy cores; the soak stops starting runs past this.
TIME_LIMIT_S = 80.0 * RUNS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TIME_LIMIT_S + 120)]


def test_kill_9_at_seeded_points_then_the_stream_equals_the_replay(bootstrap: str) -> None:
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        print(line)

    report = run_soak(
        Options(
            runs=RUNS,
            seed=SEED,
            bootstrap=bootstrap,
            events=EVENTS,
            time_limit_s=TIME_LIMIT_S,
            workdir=REPO / "var" / "crash-soak" / time.strftime("%Y%m%dT%H%M%S"),
        ),
        say=say,
    )
    log = "\n".join(said)
    assert not report.stopped_early, log
    assert [r.error for r in report.results] == [None] * RUNS, log
    for result in report.results:
        planned_kills = 1 + (result.plan.second_kill_delay_s is not None)
        assert len(result.kills) == planned_kills, log
        assert result.comparison is not None
        assert result.comparison.expected > 100, "the stream should raise many alerts"
        assert result.comparison.entities > 100
    assert said[-1] == f"runs {RUNS} / exact {RUNS} / lost 0 / extra 0 / duplicated 0", log
    assert report.status == 0
