from __future__ import annotations

import time

import pytest

from bench import steps


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "POLL_S", 0.0)
    monkeypatch.setattr(steps, "PROGRESS_EVERY_S", 0.0)


def test_wait_reports_progress_until_the_check_holds() -> None:
    answers = iter([False, False, False, True])
    reports: list[float] = []
    steps._wait("it", lambda: next(answers), 60.0, reports.append)
    assert len(reports) == 3
    assert reports == sorted(reports)  # seconds waited so far, growing


def test_wait_gives_up_at_the_timeout_and_says_what() -> None:
    def never() -> bool:
        time.sleep(0.001)
        return False

    with pytest.raises(TimeoutError, match="the thing did not happen within 0 s"):
        steps._wait("the thing", never, 0.0)
