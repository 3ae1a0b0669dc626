"""The routes, on a real aiohttp server on loopback, with Kafka replaced by a recording sink.

(The integration tests, tests/integration/test_api.py, run them on the real broker.)
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cxpulse.api import auth
from cxpulse.api.server import Gateway
from cxpulse.api.sink import KafkaUnavailable, Record
from cxpulse.config.settings import Settings
from cxpulse.edge.redact import pseudonymise

KEY = "test-key-0123456789"
TOKEN = "twilio-token"
ZENDESK_SECRET = "zendesk-secret"
EVENTBRIDGE_KEY = "eventbridge-key"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class RecordingSink:
    def __init__(self) -> None:
        self.sent: list[Record] = []
        self.ready = True
        self.failing = False

    async def send_all(self, records: list[Record]) -> None:
        if self.failing:
            raise KafkaUnavailable("the broker is gone")
        self.sent.extend(records)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_keys_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
        "api_twilio_auth_token": TOKEN,
        "api_zendesk_webhook_secret": ZENDESK_SECRET,
        "api_webhook_key_amazon_connect_events": EVENTBRIDGE_KEY,
        "api_max_body_bytes": 4096,
        **overrides,
    }
    return Settings(**values)


Scenario = Callable[[TestClient[Any, Any], RecordingSink], Awaitable[None]]


def run(scenario: Scenario, **overrides: Any) -> RecordingSink:
    sink = RecordingSink()

    async def main() -> None:
        gateway = Gateway(settings(**overrides), sink, clock=NOW.timestamp)
        async with TestClient(TestServer(gateway.app(), host="127.0.0.1")) as client:
            await scenario(client, sink)

    asyncio.run(main())
    return sink


HEADERS = {"Authorization": f"Bearer {KEY}"}


def event(n: int) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "type": "interaction.started",
        "occurred_at": "2025-01-06T10:00:00+00:00",
        "customer_id": f"c{n}",
        "interaction_id": f"i{n}",
    }


def test_events_accepted_go_to_the_input_topic_keyed_by_customer() -> None:
    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        body = orjson.dumps([event(1), {"type": "nope"}, event(2)])
        response = await client.post("/v1/events", data=body, headers=HEADERS)
        assert response.status == 202
        answer = await response.json()
        assert answer["accepted"] == 2
        assert answer["rejected"] == 1
        assert answer["results"][1]["reason"] == "unknown_type"
        assert [r.key for r in sink.sent] == [b"c1", b"c2"]
        assert {r.topic for r in sink.sent} == {"interactions"}
        assert orjson.loads(sink.sent[0].value) == event(1)

    run(scenario)


def test_nothing_acceptable_is_422_and_writes_nothing() -> None:
    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        for body in (b"{", b"[]", b"", orjson.dumps({**event(1), "channel": "fax"})):
            response = await client.post("/v1/events", data=body, headers=HEADERS)
            assert response.status == 422, body
            answer = await response.json()
            assert answer["accepted"] == 0
            assert answer["results"][0]["status"] == "rejected"
        assert sink.sent == []

    run(scenario)


def test_keys_are_required_and_checked() -> None:
    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        body = orjson.dumps(event(1))
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
            response = await client.post("/v1/events", data=body, headers=headers)
            assert response.status == 401
            assert (await response.json())["error"] == "unauthorised"
        assert sink.sent == []

    run(scenario)


def test_oversized_body_is_413_before_anything_is_written() -> None:
    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        body = orjson.dumps([event(n) for n in range(100)])
        assert len(body) > 4096
        response = await client.post("/v1/events", data=body, headers=HEADERS)
        assert response.status == 413
        assert (await response.json())["error"] == "too_large"
        assert sink.sent == []

    run(scenario)


def test_rate_limit_answers_429_with_retry_after() -> None:
    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        statuses = []
        for _ in range(4):
            response = await client.post("/v1/events", data=orjson.dumps(event(1)), headers=HEADERS)
            statuses.append(response.status)
        assert statuses == [202, 202, 429, 429]
        assert response.headers["Retry-After"] == "100"
        assert len(sink.sent) == 2

    run(scenario, api_rate_per_s=0.01, api_rate_burst=2)


def test_kafka_down_is_503_with_retry_after() -> None:
    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        sink.failing = True
        response = await client.post("/v1/events", data=orjson.dumps(event(1)), headers=HEADERS)
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert (await response.json())["error"] == "kafka_unavailable"
        sink.failing, sink.ready = False, False
        response = await client.post("/v1/events", data=orjson.dumps(event(1)), headers=HEADERS)
        assert response.status == 503
        ready = await client.get("/readyz")
        assert ready.status == 503

    run(scenario, api_lookup=False)


def _twilio_url(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("/v1/webhooks/twilio-taskrouter"))


def test_twilio_signed_form_goes_to_the_raw_topic_unchanged() -> None:
    form = b"EventType=task.created&TaskSid=WT1&TaskAttributes=%7B%7D"

    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        params = [("EventType", "task.created"), ("TaskSid", "WT1"), ("TaskAttributes", "{}")]
        signature = auth.twilio_signature(_twilio_url(client), params, TOKEN)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            auth.TWILIO_SIGNATURE: signature,
        }
        response = await client.post("/v1/webhooks/twilio-taskrouter", data=form, headers=headers)
        assert response.status == 204, await response.text()
        for bad in (
            {**headers, auth.TWILIO_SIGNATURE: "AAAA"},
            {"Content-Type": "application/x-www-form-urlencoded"},
        ):
            response = await client.post("/v1/webhooks/twilio-taskrouter", data=form, headers=bad)
            assert response.status == 401
        tampered = form.replace(b"WT1", b"WT2")
        response = await client.post(
            "/v1/webhooks/twilio-taskrouter", data=tampered, headers=headers
        )
        assert response.status == 401
        # keyed by the task: its callbacks share a raw partition and keep their order
        assert sink.sent == [Record("raw.twilio-taskrouter", b"WT1", form)]

    run(scenario)


def test_twilio_signs_the_public_url_behind_a_proxy() -> None:
    form = b"EventType=task.created&TaskSid=WT1"

    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        url = "https://cx.example.com/v1/webhooks/twilio-taskrouter"
        signature = auth.twilio_signature(
            url, [("EventType", "task.created"), ("TaskSid", "WT1")], TOKEN
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            auth.TWILIO_SIGNATURE: signature,
        }
        response = await client.post("/v1/webhooks/twilio-taskrouter", data=form, headers=headers)
        assert response.status == 204
        assert len(sink.sent) == 1

    run(scenario, api_public_url="https://cx.example.com")


def test_zendesk_signed_fresh_is_accepted_stale_is_not() -> None:
    body = b'{"type": "zen:event-type:ticket.created"}'

    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        def headers(at: datetime) -> dict[str, str]:
            stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            return {
                "Content-Type": "application/json",
                auth.ZENDESK_SIGNATURE: auth.zendesk_signature(stamp, body, ZENDESK_SECRET),
                auth.ZENDESK_TIMESTAMP: stamp,
            }

        response = await client.post("/v1/webhooks/zendesk", data=body, headers=headers(NOW))
        assert response.status == 202
        stale = NOW.replace(minute=0, hour=11)
        response = await client.post("/v1/webhooks/zendesk", data=body, headers=headers(stale))
        assert response.status == 401
        assert "beyond 300 s" in (await response.json())["message"]
        assert len(sink.sent) == 1

    run(scenario)


def test_key_webhooks_unknown_sources_and_unconfigured_ones() -> None:
    body = b'{"detail-type": "Amazon Connect Contact Event"}'

    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        header = "X-Cxpulse-Webhook-Key"
        ok = await client.post(
            "/v1/webhooks/amazon-connect-events", data=body, headers={header: EVENTBRIDGE_KEY}
        )
        assert ok.status == 202
        wrong = await client.post(
            "/v1/webhooks/amazon-connect-events", data=body, headers={header: "guess"}
        )
        assert wrong.status == 401
        unconfigured = await client.post(
            "/v1/webhooks/genesys-cloud", data=body, headers={header: EVENTBRIDGE_KEY}
        )
        assert unconfigured.status == 401
        unknown = await client.post("/v1/webhooks/salesforce", data=body)
        assert unknown.status == 404
        assert [r.topic for r in sink.sent] == ["raw.amazon-connect-events"]

    run(scenario)


def test_unknown_paths_and_methods_answer_json() -> None:
    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        response = await client.get("/v2/nothing")
        assert response.status == 404
        assert (await response.json())["error"] == "not_found"
        response = await client.get("/v1/events")
        assert response.status == 405
        assert "POST" in response.headers["Allow"]

    run(scenario)


@pytest.mark.parametrize("path", ["/v1/customers/c1", "/v1/incidents"])
def test_lookups_off_answer_404(path: str) -> None:
    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        response = await client.get(path, headers=HEADERS)
        assert response.status == 404

    run(scenario, api_lookup=False)


class FakeView:
    def __init__(self, entities: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.entities = entities
        self.asked: list[tuple[str, str]] = []
        self.behind: str | None = None

    def waiting(self) -> str | None:
        return self.behind

    def entity(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        self.asked.append((entity_type, entity_id))
        return self.entities.get((entity_type, entity_id))

    def incidents(self, status: str) -> list[dict[str, Any]]:
        return [{"group_key": "g", "status": status}]

    def rules(self) -> list[dict[str, Any]]:
        return [found for (kind, _), found in self.entities.items() if kind == "rule"]

    def size(self) -> int:
        return len(self.entities)


def run_with_view(scenario: Scenario, view: FakeView, **overrides: Any) -> None:
    async def main() -> None:
        gateway = Gateway(settings(**overrides), RecordingSink(), view, clock=NOW.timestamp)
        async with TestClient(TestServer(gateway.app(), host="127.0.0.1")) as client:
            await scenario(client, RecordingSink())

    asyncio.run(main())


def test_lookup_by_raw_id_is_pseudonymised_first_and_never_answers_the_raw_id() -> None:
    key = "a-pseudonym-key-of-32-bytes-0001"
    pseudonym = pseudonymise("alice@example.com", key.encode())
    found = {"entity_type": "customer", "entity_id": pseudonym, "snapshot": {}, "alerts": []}
    view = FakeView({("customer", pseudonym): found})

    async def scenario(client: TestClient[Any, Any], _sink: RecordingSink) -> None:
        response = await client.get("/v1/customers/alice@example.com", headers=HEADERS)
        assert response.status == 200
        text = await response.text()
        assert pseudonym in text
        assert "alice" not in text
        missing = await client.get("/v1/customers/bob@example.com", headers=HEADERS)
        assert missing.status == 404
        assert "bob" not in await missing.text()

    run_with_view(scenario, view, pseudonymise_customer_ids=True, pseudonym_key=key)
    assert view.asked[0] == ("customer", pseudonym)
    assert all("@" not in entity_id for _, entity_id in view.asked)


def test_lookup_without_pseudonyms_and_for_agents_uses_the_id_as_given() -> None:
    found = {"entity_type": "agent", "entity_id": "a1", "snapshot": {}, "alerts": []}
    view = FakeView({("agent", "a1"): found})

    async def scenario(client: TestClient[Any, Any], _sink: RecordingSink) -> None:
        assert (await client.get("/v1/agents/a1", headers=HEADERS)).status == 200
        missing = await client.get("/v1/queues/q9", headers=HEADERS)
        assert missing.status == 404
        assert "queue 'q9'" in (await missing.json())["message"]
        assert (await client.get("/v1/agents/a1")).status == 401

    run_with_view(scenario, view)


def test_lookups_answer_503_until_the_view_has_caught_up() -> None:
    view = FakeView({})
    view.behind = "still reading"

    async def scenario(client: TestClient[Any, Any], _sink: RecordingSink) -> None:
        for path in ("/v1/customers/c1", "/v1/incidents"):
            response = await client.get(path, headers=HEADERS)
            assert response.status == 503
            assert response.headers["Retry-After"] == "5"
            assert (await response.json())["error"] == "catching_up"
        assert (await client.get("/readyz")).status == 503
        view.behind = None
        assert (await client.get("/readyz")).status == 200
        incidents = await client.get("/v1/incidents?status=resolved", headers=HEADERS)
        assert (await incidents.json())["incidents"] == [{"group_key": "g", "status": "resolved"}]
        bad = await client.get("/v1/incidents?status=open", headers=HEADERS)
        assert bad.status == 400

    run_with_view(scenario, view)


def test_rules_are_listed_with_an_api_key() -> None:
    rule = {"entity_type": "rule", "entity_id": "r1", "snapshot": {}, "alerts": []}
    view = FakeView({("rule", "r1"): rule})

    async def scenario(client: TestClient[Any, Any], _sink: RecordingSink) -> None:
        assert (await client.get("/v1/rules")).status == 401
        response = await client.get("/v1/rules", headers=HEADERS)
        assert response.status == 200
        assert await response.json() == {"rules": [rule]}

    run_with_view(scenario, view)


def test_metrics_count_requests_verdicts_and_webhooks_without_ids() -> None:
    async def scenario(client: TestClient[Any, Any], sink: RecordingSink) -> None:
        body = orjson.dumps([event(1), {"type": "nope"}])
        assert (await client.post("/v1/events", data=body, headers=HEADERS)).status == 202
        assert (await client.post("/v1/webhooks/zendesk", data=b"{}")).status == 401
        assert (await client.get("/v1/customers/c-secret-1", headers=HEADERS)).status == 404
        assert (await client.get("/nowhere")).status == 404
        response = await client.get("/metrics")
        assert response.status == 200
        text = await response.text()
        for line in (
            'cxpulse_gateway_requests_total{route="/v1/events",status="202"} 1.0',
            'cxpulse_gateway_events_total{verdict="accepted"} 1.0',
            'cxpulse_gateway_events_total{verdict="unknown_type"} 1.0',
            'cxpulse_gateway_webhooks_total{source="zendesk",status="401"} 1.0',
            'cxpulse_gateway_webhooks_total{source="genesys-cloud",status="202"} 0.0',
            'cxpulse_gateway_requests_total{route="/v1/customers/{id}",status="404"} 1.0',
            'cxpulse_gateway_requests_total{route="unmatched",status="404"} 1.0',
            "cxpulse_gateway_kafka_ack_seconds_count 1.0",
        ):
            assert line in text, line
        assert "c-secret-1" not in text

    run(scenario, api_lookup=False)
