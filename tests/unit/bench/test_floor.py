from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.floor import ceilings, scoring_floor
from bench.run import STEPS, main
from bench.run import ceilings as run_ceilings
from bench.workload import Workload, workload
from cxpulse.config.settings import Settings
from cxpulse.edge.decode import Rejection, decode_event
from cxpulse.replay import replay


def test_the_floor_scores_every_event_and_encodes_what_the_replay_emits() -> None:
    work = workload(3_000, customers=50, seed=11)
    settings = Settings(partitions=4)
    floor = scoring_floor(work, settings)

    events = [decode_event(value, settings.max_event_bytes) for _, value in work.records]
    expected = replay(
        [e for e in events if not isinstance(e, Rejection)],
        settings.scoring_config(),
        with_snapshots=True,
    )
    assert floor.events == 3_000
    assert floor.rejected == 0
    assert floor.outputs == len(expected.alerts) + len(expected.snapshots) + len(expected.insights)
    assert floor.outputs > 0
    assert floor.cpu_s > 0
    assert floor.cpu_us_per_event == pytest.approx(floor.cpu_s * 1e6 / 3_000)
    assert floor.events_per_s == pytest.approx(3_000 / floor.cpu_s)


def test_a_record_that_is_not_an_event_is_counted_as_rejected() -> None:
    good = workload(20, customers=2, seed=1)
    work = Workload([*good.records, (b"c-1", b"{not json")], [*good.event_ids, "bad"], 2)
    floor = scoring_floor(work, Settings())
    assert (floor.events, floor.rejected) == (21, 1)


@pytest.mark.parametrize(
    ("faust_per_s", "floor_us", "ratio", "per_s"),
    [
        (20_000, 50.0, 0.5, 10_000),  # faust 50 µs + 50 µs
        (10_000, 0.0, 1.0, 10_000),
        (25_000, 10.0, 0.8, 20_000),  # 40 µs + 10 µs
    ],
)
def test_ceilings_add_the_floor_to_the_do_nothing_agents_cost(
    faust_per_s: float, floor_us: float, ratio: float, per_s: float
) -> None:
    found = ceilings(faust_per_s, floor_us)
    assert found["cxpulse_vs_faust_ceiling"] == pytest.approx(ratio)
    assert found["events_per_s_ceiling"] == pytest.approx(per_s)


def test_the_run_gives_ceilings_only_when_it_measured_both_steps() -> None:
    faust = {"events_per_s": 20_000.0}
    scoring = {"cpu_us_per_event": 50.0}
    assert run_ceilings({"faust": faust}) == {}
    assert run_ceilings({"scoring": scoring}) == {}
    assert run_ceilings({"faust": faust, "scoring": scoring})["cxpulse_vs_faust_ceiling"] == (
        pytest.approx(0.5)
    )


def test_the_floor_alone_needs_no_broker(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    skips = [f"--skip={step}" for step in STEPS if step != "scoring"]
    nothing_listens = "127.0.0.1:1"
    argv = ["--bootstrap", nothing_listens, "--events", "300", "--runs", "1", *skips]
    assert main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert list(result["steps"]) == ["scoring"]
    assert result["steps"]["scoring"]["runs"][0]["events"] == 300
