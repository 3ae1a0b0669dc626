from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cxpulse.commands import adapt
from cxpulse.schemas.events import parse_event


def arguments(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cxpulse adapt")
    adapt.add_arguments(parser)
    return parser.parse_args(argv)


def write(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "payloads.jsonl"
    path.write_bytes(content)
    return str(path)


def test_one_payload_per_line_prints_every_event(
    tmp_path: Path, raw: Callable[[str], bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [raw("ctr_voice_resolved.json"), raw("ctr_abandoned.json")]
    compact = [json.dumps(json.loads(line)).encode() for line in lines]
    path = write(tmp_path, b"\n".join(compact) + b"\n\n")

    code = adapt.run(arguments("--source", "amazon-connect-ctr", path))

    out, err = capsys.readouterr()
    events = [parse_event(line) for line in out.splitlines()]
    assert code == 0
    assert err == ""
    assert [event.type for event in events] == [
        "interaction.started",
        "interaction.connected",
        "interaction.held",
        "interaction.held",
        "interaction.ended",
        "interaction.started",
        "interaction.ended",
    ]


def test_a_json_array_is_read_item_by_item(
    tmp_path: Path, raw: Callable[[str], bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, raw("twilio_eventstreams_batch.json"))

    code = adapt.run(arguments("--source", "twilio-taskrouter", path))

    out, _ = capsys.readouterr()
    assert code == 0
    assert [parse_event(line).type for line in out.splitlines()] == [
        "interaction.connected",
        "interaction.ended",
    ]


def test_unmappable_payloads_are_reported_by_line_and_fail_the_run(
    tmp_path: Path, raw: Callable[[str], bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    good = raw("twilio_task_created.form")
    path = write(tmp_path, good + b"\n{broken\n" + good + b"\n")

    code = adapt.run(arguments("--source", "twilio-taskrouter", path))

    out, err = capsys.readouterr()
    assert code == 1
    assert len(out.splitlines()) == 2
    assert err.startswith("line 2: invalid_json: ")


def test_standard_input_is_read_for_a_dash(
    raw: Callable[[str], bytes],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(raw("zendesk_status_changed_solved.json")))
    monkeypatch.setattr("sys.stdin", stdin)

    code = adapt.run(arguments("--source", "zendesk", "-"))

    out, _ = capsys.readouterr()
    assert code == 0
    assert parse_event(out).type == "interaction.ended"


def test_an_unknown_source_lists_the_valid_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = adapt.run(arguments("--source", "avaya", write(tmp_path, b"{}")))

    _, err = capsys.readouterr()
    assert code == 2
    assert "avaya" in err
    for source in ("amazon-connect-ctr", "amazon-connect-events", "genesys-cloud", "zendesk"):
        assert source in err


def test_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = adapt.run(arguments("--source", "zendesk", str(tmp_path / "absent.jsonl")))

    _, err = capsys.readouterr()
    assert code == 2
    assert "absent.jsonl" in err


def test_explain_names_the_fields_read_ignored_and_missing_and_the_anonymous_key(
    tmp_path: Path, raw: Callable[[str], bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    completed = json.dumps(json.loads(raw("connect_event_untagged_completed.json")))
    path = write(tmp_path, completed.encode() + b"\n{broken\n")

    code = adapt.run(arguments("--source", "amazon-connect-events", "--explain", path))

    out, err = capsys.readouterr()
    first, second = out.split("payload 2:")
    assert code == 1
    assert err == ""
    assert first.startswith("payload 1: 2 event(s)")
    read = next(line for line in first.splitlines() if line.startswith("  read"))
    ignored = next(line for line in first.splitlines() if line.startswith("  ignored"))
    absent = next(line for line in first.splitlines() if line.startswith("  looked for"))
    assert "event.detail.agentInfo.agentInitiatedHoldDuration" in read
    assert "event.detail.agentInfo.afterContactWorkDuration" in ignored
    assert "event.detail.agentInfo.agentInitiatedHoldDuration" not in ignored
    assert "event.detail.tags.customerId" in absent
    assert "anon:amazon-connect:e3f0c5a2-7d1b-4c8e-9f0a-2b3c4d5e6f70 (anonymous" in first
    assert second.startswith(" rejected, invalid_json:")
