"""`cxpulse notify` without Kafka: the Alertmanager payload, the firing alerts it re-sends,
its settings and metrics, and its HTTP delivery against a small Alertmanager stand-in on
127.0.0.1 (refusals, retries, an HA pair, authentication).  The real Alertmanager and the
real broker are in tests/integration/test_alertmanager.py."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError

from cxpulse.config.settings import Settings
from cxpulse.metrics import NotifyMetrics
from cxpulse.notify.payload import (
    VALID_FOR_RESENDS,
    FiringAlerts,
    Post,
    alert_annotations,
    alert_labels,
    dashboard_link,
    group_key,
)
from cxpulse.notify.service import Answer, Notifier
from cxpulse.schemas.outputs import Alert, AlertStatus, EntityType, Severity
from tests.integration.sasl.certs import make_pki

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
GRAFANA = "http://grafana.test:3000"
RESEND_S = 30.0


def make_alert(**fields: Any) -> Alert:
    values: dict[str, Any] = {
        "alert_id": "a1",
        "kind": "failure_burst",
        "severity": Severity.CRITICAL,
        "entity_type": EntityType.QUEUE,
        "entity_id": "q-billing",
        "occurred_at": NOW - timedelta(minutes=5),
        "reason": "9 of 20 contacts failed.",
        "evidence": ["e1", "e2"],
        "group_key": "failure_burst:queue:q-billing@2026-03-02T11:00:00+00:00",
    }
    values.update(fields)
    return Alert(**values)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- the payload -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entity_type", "id_label"),
    [
        (EntityType.QUEUE, "queue_id"),
        (EntityType.SERVICE, "service_id"),
        (EntityType.AGENT, "agent_id"),
        (EntityType.CUSTOMER, None),
        (EntityType.RULE, None),
        (EntityType.COMPETITOR, None),
    ],
)
def test_labels_name_the_condition_and_the_entity(
    entity_type: EntityType, id_label: str | None
) -> None:
    alert = make_alert(entity_type=entity_type, entity_id="x-1", severity=Severity.WARNING)
    expected = {
        "alertname": "failure_burst",
        "severity": "warning",
        "entity_type": entity_type.value,
        "entity_id": "x-1",
        "group_key": alert.group_key,
    }
    if id_label is not None:
        expected[id_label] = "x-1"
    assert alert_labels(alert) == expected


def test_any_kind_is_forwarded_as_its_alertname() -> None:
    assert alert_labels(make_alert(kind="a_kind_added_later"))["alertname"] == "a_kind_added_later"


def test_an_empty_group_key_falls_back_to_kind_and_entity() -> None:
    alert = make_alert(group_key="", entity_type=EntityType.CUSTOMER, entity_id="c-9")
    assert group_key(alert) == "failure_burst:customer:c-9"
    assert alert_labels(alert)["group_key"] == "failure_burst:customer:c-9"


def test_annotations_carry_reason_evidence_id_and_dashboard() -> None:
    alert = make_alert(scores={"failure_rate": 0.45}, thresholds={"min_rate": 0.3})
    assert alert_annotations(alert, GRAFANA) == {
        "summary": "9 of 20 contacts failed.",
        "reason": "9 of 20 contacts failed.",
        "evidence": "e1, e2",
        "alert_id": "a1",
        "occurred_at": alert.occurred_at.isoformat(),
        "scores": "failure_rate=0.45",
        "thresholds": "min_rate=0.3",
        "dashboard": f"{GRAFANA}/d/cxpulse-service-experience?var-queue=q-billing",
    }


def test_long_evidence_is_cut_and_counted() -> None:
    alert = make_alert(evidence=[f"e{i}" for i in range(25)])
    assert alert_annotations(alert, GRAFANA)["evidence"].endswith("e19 (and 5 more)")


@pytest.mark.parametrize(
    ("entity_type", "entity_id", "link"),
    [
        (EntityType.AGENT, "ag 7", f"{GRAFANA}/d/cxpulse-service-experience?var-agent=ag+7"),
        (EntityType.SERVICE, "svc", f"{GRAFANA}/d/cxpulse-service-experience"),
    ],
)
def test_dashboard_link_filters_to_the_entity_where_the_dashboard_can(
    entity_type: EntityType, entity_id: str, link: str
) -> None:
    assert dashboard_link(make_alert(entity_type=entity_type, entity_id=entity_id), GRAFANA) == link


def test_no_grafana_url_no_link() -> None:
    assert "dashboard" not in alert_annotations(make_alert(), "")


# --- firing alerts ---------------------------------------------------------------------
def firing_map() -> FiringAlerts:
    return FiringAlerts(GRAFANA, RESEND_S)


def test_a_firing_alert_starts_at_its_event_time_and_is_valid_for_four_resends() -> None:
    alert = make_alert()
    (post,) = firing_map().apply(alert, seen_ms=1, partition=0, now=NOW)
    payload = post.render(NOW)
    assert payload["startsAt"] == iso(alert.occurred_at)
    assert payload["endsAt"] == iso(NOW + timedelta(seconds=VALID_FOR_RESENDS * RESEND_S))
    assert payload["labels"] == alert_labels(alert)
    assert payload["generatorURL"] == dashboard_link(alert, GRAFANA)


def test_a_firing_alert_posted_late_is_valid_from_when_it_is_posted() -> None:
    (post,) = firing_map().apply(make_alert(), 1, 0, now=NOW)
    after_an_outage = NOW + timedelta(minutes=20)
    assert post.render(after_an_outage)["endsAt"] == iso(
        after_an_outage + timedelta(seconds=VALID_FOR_RESENDS * RESEND_S)
    )


def test_an_event_time_ahead_of_the_clock_starts_now() -> None:
    (post,) = firing_map().apply(make_alert(occurred_at=NOW + timedelta(days=3)), 1, 0, now=NOW)
    payload = post.render(NOW)
    assert payload["startsAt"] == iso(NOW)


def test_a_resolution_resolves_every_alert_of_its_group_since_the_first_start() -> None:
    firing = firing_map()
    group = "failure_burst:service:svc@1"
    first = make_alert(entity_type=EntityType.SERVICE, entity_id="svc", group_key=group)
    customer = make_alert(
        entity_type=EntityType.CUSTOMER, entity_id="c-1", kind="repeat_failure", group_key=group
    )
    firing.apply(first, 1, 0, NOW)
    firing.apply(customer, 2, 1, NOW)
    update = first.model_copy(update={"occurred_at": NOW - timedelta(minutes=1), "alert_id": "a2"})
    firing.apply(update, 3, 0, NOW)
    resolution = first.model_copy(
        update={"status": AlertStatus.RESOLVED, "occurred_at": NOW, "alert_id": "a3"}
    )

    later = NOW + timedelta(minutes=1)
    payloads = [post.render(later) for post in firing.apply(resolution, 4, 0, later)]

    assert [p["labels"]["entity_id"] for p in payloads] == ["svc", "c-1"]
    assert all(p["endsAt"] == iso(NOW) for p in payloads)
    assert payloads[0]["startsAt"] == iso(first.occurred_at)
    assert len(firing) == 0
    assert firing.resend() == []


def test_a_firing_record_published_before_its_resolution_but_read_after_it_is_resolved() -> None:
    firing = firing_map()
    group = "failure_burst:service:svc@1"
    incident = make_alert(entity_type=EntityType.SERVICE, entity_id="svc", group_key=group)
    resolution = incident.model_copy(update={"status": AlertStatus.RESOLVED, "occurred_at": NOW})
    customer = make_alert(entity_type=EntityType.CUSTOMER, entity_id="c-1", group_key=group)
    firing.apply(incident, 1_000, 0, NOW)
    firing.apply(resolution, 3_000, 0, NOW)

    (late,) = firing.apply(customer, 2_000, 1, NOW)  # another partition, read later
    newer = customer.model_copy(update={"alert_id": "a9"})
    (again,) = firing.apply(newer, 4_000, 1, NOW)  # published after the resolution

    assert late.render(NOW)["endsAt"] == iso(NOW)
    assert len(firing) == 1
    assert again.render(NOW)["endsAt"] > iso(NOW)


def test_a_resolution_never_ends_before_its_start() -> None:
    firing = firing_map()
    alert = make_alert()
    firing.apply(alert, 1, 0, NOW)
    early = alert.model_copy(
        update={"status": AlertStatus.RESOLVED, "occurred_at": alert.occurred_at - timedelta(1)}
    )
    (post,) = firing.apply(early, 2, 0, NOW)
    payload = post.render(NOW)
    assert payload["endsAt"] == payload["startsAt"] == iso(alert.occurred_at)


def test_new_labels_for_one_condition_resolve_the_alert_they_replace() -> None:
    firing = firing_map()
    warning = make_alert(severity=Severity.WARNING)
    firing.apply(warning, 1, 0, NOW)
    critical = make_alert(severity=Severity.CRITICAL, alert_id="a2")

    new, old = (post.render(NOW) for post in firing.apply(critical, 2, 0, NOW))

    assert (new["labels"]["severity"], old["labels"]["severity"]) == ("critical", "warning")
    assert old["endsAt"] == iso(min(critical.occurred_at, NOW))
    assert [p.render(NOW)["labels"]["severity"] for p in firing.resend()] == ["critical"]


def test_resend_holds_each_firing_alert_once_with_a_fresh_end() -> None:
    firing = firing_map()
    firing.apply(make_alert(entity_id="q1", group_key="g1"), 1, 0, NOW)
    firing.apply(make_alert(entity_id="q1", group_key="g1", alert_id="a2"), 2, 0, NOW)
    firing.apply(make_alert(entity_id="q2", group_key="g2"), 3, 1, NOW)
    later = NOW + timedelta(minutes=10)
    payloads = [post.render(later) for post in firing.resend()]
    assert sorted(p["labels"]["group_key"] for p in payloads) == ["g1", "g2"]
    assert {p["endsAt"] for p in payloads} == {
        iso(later + timedelta(seconds=VALID_FOR_RESENDS * RESEND_S))
    }


def test_expiry_partitions_and_refusals_drop_held_alerts() -> None:
    firing = firing_map()
    firing.apply(make_alert(group_key="old"), 1_000, 0, NOW)
    firing.apply(make_alert(group_key="new"), 5_000, 1, NOW)
    firing.apply(make_alert(group_key="other"), 5_000, 2, NOW)
    assert firing.expire(oldest_ms=2_000) == 1
    assert firing.drop_partitions({2}) == 1
    firing.forget(make_alert(group_key="new"))
    assert len(firing) == 0


# --- settings and metrics --------------------------------------------------------------
def test_several_alertmanagers_and_secrets_from_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("s3cret-token\n")
    monkeypatch.setenv("CXPULSE_ALERTMANAGER_URL", "http://am-1:9093/, https://am-2/prefix")
    monkeypatch.setenv("CXPULSE_ALERTMANAGER_BEARER_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("CXPULSE_ALERTMANAGER_CA_FILE", "")
    settings = Settings()
    assert settings.alertmanager_urls() == ("http://am-1:9093", "https://am-2/prefix")
    assert settings.alertmanager_bearer_token is not None
    assert settings.alertmanager_bearer_token.get_secret_value() == "s3cret-token"
    assert "s3cret" not in repr(settings)
    assert settings.alertmanager_ca_file is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"alertmanager_url": "am:9093"}, "is not an http"),
        ({"alertmanager_url": " , "}, "names no URL"),
        ({"alertmanager_username": "u"}, "basic auth needs both"),
        (
            {
                "alertmanager_username": "u",
                "alertmanager_password": "p",
                "alertmanager_bearer_token": "t",
            },
            "not both",
        ),
        (
            {"alertmanager_ca_file": "/nonexistent/ca.pem"},
            "cannot read CXPULSE_ALERTMANAGER_CA_FILE",
        ),
    ],
)
def test_inconsistent_notify_settings_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**fields)  # type: ignore[arg-type]


def test_notify_metrics_start_at_zero_for_every_known_label_value() -> None:
    registry = CollectorRegistry()
    NotifyMetrics(registry, ("http://am-1:9093",))
    text = generate_latest(registry).decode()
    for line in (
        'cxpulse_notify_sent_total{status="firing"} 0.0',
        'cxpulse_notify_sent_total{status="resolved"} 0.0',
        'cxpulse_notify_dead_letters_total{reason="refused"} 0.0',
        'cxpulse_notify_failed_total{alertmanager="http://am-1:9093",reason="unreachable"} 0.0',
        "cxpulse_notify_retrying 0.0",
        "cxpulse_notify_lag 0.0",
    ):
        assert line in text


def test_every_notify_metric_is_in_the_operations_reference() -> None:
    reference = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    registry = CollectorRegistry()
    NotifyMetrics(registry)
    for family in registry.collect():
        suffix = "_total" if family.type == "counter" else ""
        assert f"`{family.name}{suffix}`" in reference, family.name


@pytest.mark.parametrize(
    ("status", "refused", "failure"),
    [
        (None, False, "unreachable"),
        (400, True, "refused"),
        (422, True, "refused"),
        (401, False, "unauthorised"),
        (403, False, "unauthorised"),
        (429, False, "throttled"),
        (503, False, "server_error"),
    ],
)
def test_only_answers_about_the_alert_itself_are_refusals(
    status: int | None, refused: bool, failure: str
) -> None:
    answer = Answer("http://am", status)
    assert (answer.refused, answer.failure) == (refused, failure)


# --- delivery against an Alertmanager stand-in ---------------------------------------
Handler = Callable[[web.Request, list[dict[str, Any]]], web.Response]


@asynccontextmanager
async def stand_in(
    handler: Handler, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[str, list[web.Request]]]:
    """An HTTP(S) server on 127.0.0.1 answering POST /api/v2/alerts with ``handler``."""
    requests: list[web.Request] = []

    async def post(request: web.Request) -> web.Response:
        requests.append(request)
        return handler(request, await request.json())

    app = web.Application()
    app.router.add_post("/api/v2/alerts", post)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", requests
    finally:
        await runner.cleanup()


def accept(request: web.Request, alerts: list[dict[str, Any]]) -> web.Response:
    return web.Response(status=200)


def payloads(*names: str) -> list[Post]:
    return [p for name in names for p in firing_map().apply(make_alert(group_key=name), 1, 0, NOW)]


async def deliver(
    url: str, alerts: list[Post], **settings: Any
) -> tuple[list[str | None], Notifier]:
    notifier = Notifier(
        Settings(alertmanager_url=url, notify_retry_max_s=0.2, alertmanager_timeout_s=2, **settings)
    )
    await notifier.alertmanagers.start()
    try:
        return await asyncio.wait_for(notifier.deliver(alerts), 20), notifier
    finally:
        await notifier.alertmanagers.close()


def metric(notifier: Notifier, name: str, labels: dict[str, str] | None = None) -> float:
    value = notifier.registry.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


def test_an_invalid_alert_is_refused_alone_and_the_rest_delivered() -> None:
    def refuse_bad(request: web.Request, alerts: list[dict[str, Any]]) -> web.Response:
        if any(a["labels"]["group_key"] == "bad" for a in alerts):
            return web.Response(status=400, text="invalid alert: bad")
        return web.Response(status=200)

    async def scenario() -> tuple[list[str | None], int]:
        async with stand_in(refuse_bad) as (url, requests):
            results, _ = await deliver(url, payloads("g1", "bad", "g2"))
            return results, len(requests)

    results, requests = asyncio.run(scenario())
    assert results[0] is None
    assert results[2] is None
    assert results[1] is not None
    assert "answered 400: invalid alert: bad" in results[1]
    assert requests == 4  # the batch, then each alert alone


def test_a_down_alertmanager_is_retried_until_it_accepts() -> None:
    answers = iter([503, 429, 200])

    def flaky(request: web.Request, alerts: list[dict[str, Any]]) -> web.Response:
        return web.Response(status=next(answers))

    async def scenario() -> tuple[list[str | None], Notifier]:
        async with stand_in(flaky) as (url, _):
            return await deliver(url, payloads("g1"))

    results, notifier = asyncio.run(scenario())
    url = notifier.alertmanagers.urls[0]
    assert results == [None]
    assert (
        metric(
            notifier, "cxpulse_notify_failed_total", {"alertmanager": url, "reason": "server_error"}
        )
        == 1
    )
    assert (
        metric(
            notifier, "cxpulse_notify_failed_total", {"alertmanager": url, "reason": "throttled"}
        )
        == 1
    )
    assert metric(notifier, "cxpulse_notify_retrying") == 0
    assert not notifier.retrying


def test_one_alertmanager_of_an_ha_pair_accepting_is_delivery() -> None:
    async def scenario() -> tuple[list[str | None], Notifier, int]:
        async with stand_in(accept) as (url, requests):
            down = "http://127.0.0.1:9"  # discard port: nothing listens
            results, notifier = await deliver(f"{url},{down}", payloads("g1"))
            return results, notifier, len(requests)

    results, notifier, requests = asyncio.run(scenario())
    assert results == [None]
    assert requests == 1
    labels = {"alertmanager": "http://127.0.0.1:9", "reason": "unreachable"}
    assert metric(notifier, "cxpulse_notify_failed_total", labels) == 1


@pytest.mark.parametrize(
    ("settings", "header"),
    [
        ({"alertmanager_bearer_token": "tok"}, "Bearer tok"),
        (
            {"alertmanager_username": "cx", "alertmanager_password": "pw"},
            "Basic " + base64.b64encode(b"cx:pw").decode(),
        ),
    ],
)
def test_credentials_are_sent(settings: dict[str, str], header: str) -> None:
    async def scenario() -> str | None:
        async with stand_in(accept) as (url, requests):
            await deliver(url, payloads("g1"), **settings)
            return requests[0].headers.get("Authorization")

    assert asyncio.run(scenario()) == header


def test_https_alertmanager_is_trusted_through_the_ca_file(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(tmp_path / "broker.pem", tmp_path / "broker.key")

    async def scenario() -> tuple[list[str | None], str]:
        async with stand_in(accept, tls) as (url, _):
            trusted, _ = await deliver(url, payloads("g1"), alertmanager_ca_file=str(pki.ca))
            stranger = Notifier(
                Settings(alertmanager_url=url, alertmanager_ca_file=str(pki.other_ca))
            )
            await stranger.alertmanagers.start()
            try:
                outcome = await stranger.alertmanagers.post([p.render(NOW) for p in payloads("g1")])
            finally:
                await stranger.alertmanagers.close()
            return trusted, outcome.explain()

    trusted, untrusted = asyncio.run(scenario())
    assert trusted == [None]
    assert "certificate verify failed" in untrusted
