"""Whatever the bytes, an adapter returns validated events or raises AdapterError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxpulse.adapters import ADAPTERS, Adapter, AdapterError
from cxpulse.schemas.events import event_to_json, parse_event

PAYLOADS = Path(__file__).resolve().parents[2] / "payloads"
SOURCE_OF_FIXTURE = {
    "ctr_": "amazon-connect-ctr",
    "connect_event_": "amazon-connect-events",
    "twilio_": "twilio-taskrouter",
    "genesys_": "genesys-cloud",
    "zendesk_": "zendesk",
}
FIXTURES = sorted(path.name for path in PAYLOADS.iterdir())
JSON_FIXTURES = [name for name in FIXTURES if name.endswith(".json")]
FORM_FIXTURES = [name for name in FIXTURES if name.endswith(".form")]

ROBUSTNESS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def adapter_for(fixture: str) -> Adapter:
    prefix = next(prefix for prefix in SOURCE_OF_FIXTURE if fixture.startswith(prefix))
    return ADAPTERS[SOURCE_OF_FIXTURE[prefix]]


def outcome_of(adapter: Adapter, payload: bytes) -> None:
    """Run the adapter: events must round-trip through the contract; errors must be typed."""
    events = []
    failure: AdapterError | None = None
    try:
        events = adapter(payload)
    except AdapterError as error:
        failure = error
    if failure is not None:
        assert failure.reason
        assert failure.message
    for event in events:
        assert parse_event(event_to_json(event)) == event


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a decoded JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def test_every_fixture_belongs_to_an_adapter() -> None:
    assert {adapter_for(name) for name in FIXTURES} == set(ADAPTERS.values())


@pytest.mark.parametrize("source", sorted(ADAPTERS))
@ROBUSTNESS
@given(payload=st.binary(max_size=512))
def test_arbitrary_bytes(source: str, payload: bytes) -> None:
    outcome_of(ADAPTERS[source], payload)


@pytest.mark.parametrize("source", sorted(ADAPTERS))
@ROBUSTNESS
@given(value=json_values)
def test_arbitrary_json(source: str, value: Any) -> None:
    outcome_of(ADAPTERS[source], json.dumps(value).encode())


@pytest.mark.parametrize("fixture", JSON_FIXTURES)
@ROBUSTNESS
@given(data=st.data(), value=json_values)
def test_a_fixture_with_any_value_replaced(fixture: str, data: st.DataObject, value: Any) -> None:
    document = json.loads((PAYLOADS / fixture).read_bytes())
    path = data.draw(st.sampled_from(paths(document)))

    outcome_of(adapter_for(fixture), json.dumps(replaced(document, path, value)).encode())


@pytest.mark.parametrize("fixture", FORM_FIXTURES)
@ROBUSTNESS
@given(data=st.data(), value=st.text())
def test_a_form_with_any_parameter_replaced(fixture: str, data: st.DataObject, value: str) -> None:
    params = dict(parse_qsl((PAYLOADS / fixture).read_text().strip()))
    key = data.draw(st.sampled_from(sorted(params)))
    params[key] = value

    outcome_of(adapter_for(fixture), urlencode(params).encode())


@pytest.mark.parametrize("fixture", FORM_FIXTURES)
@ROBUSTNESS
@given(data=st.data(), value=json_values)
def test_task_attributes_with_any_value_replaced(
    fixture: str, data: st.DataObject, value: Any
) -> None:
    params = dict(parse_qsl((PAYLOADS / fixture).read_text().strip()))
    attributes = json.loads(params["TaskAttributes"])
    path = data.draw(st.sampled_from(paths(attributes)))
    params["TaskAttributes"] = json.dumps(replaced(attributes, path, value))

    outcome_of(adapter_for(fixture), urlencode(params).encode())
