import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from cxpulse.commands import cli
from cxpulse.config.collector import pace_collector
from cxpulse.config.settings import Settings


@pytest.fixture(autouse=True)
def python_default_pace() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_sets_the_young_threshold_and_keeps_the_older_ratios() -> None:
    _, middle, old = gc.get_threshold()
    pace_collector(12_345)
    assert gc.get_threshold() == (12_345, middle, old)


def test_freezes_what_exists_at_startup() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    pace_collector(5_000)
    assert gc.get_freeze_count() > 1_000


def test_garbage_in_cycles_is_still_collected() -> None:
    pace_collector(1_000)
    collected = []

    class Node:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            collected.append(1)

    for _ in range(10):
        Node()
    kept: list[list[int]] = [
        [] for _ in range(5_000)
    ]  # net allocations: what drives a young collection
    assert len(kept) == 5_000
    assert len(collected) == 10


def test_the_default_is_the_settings_value() -> None:
    assert Settings().gc_young_threshold == 25_000
    with pytest.raises(ValueError, match="gc_young_threshold"):
        Settings(gc_young_threshold=0)


def test_every_command_paces_the_collector_from_its_settings(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("")
    code = cli.main(["replay", str(events), "--gc-young-threshold", "4321"])
    assert code == 0
    assert gc.get_threshold()[0] == 4321
