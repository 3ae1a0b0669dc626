"""`cxpulse notify` against the real Alertmanager (Debian `prometheus-alertmanager`).

Alert records are produced to a test alerts topic on the real broker; a real `cxpulse
notify` process forwards them to a real Alertmanager on loopback, whose only receiver is a
webhook served by this test.  What the webhook receives is what a person would be sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, ClassVar

import orjson
import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.conftest import REPO, CommandProcess, free_port, metric_total
from tests.integration.kafka_io import collect, produce

pytestmark = pytest.mark.slow

SHIPPED_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
ALERTMANAGER = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
GROUP_WAIT_S = 3


def now_iso(seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def alert_record(group: str, entity_id: str, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "alert_id": uuid.uuid4().hex,
        "kind": "failure_burst",
        "severity": "critical",
        "entity_type": "queue",
        "entity_id": entity_id,
        # Now, as in a live stream: Alertmanager waits group_wait for more alerts of a new
        # group only if its first alert started less than group_wait ago.
        "occurred_at": now_iso(),
        "reason": f"Queue {entity_id}: 9 of 20 contacts failed in the window (45%).",
        "scores": {"failures": 9.0, "failure_rate": 0.45},
        "thresholds": {"min_failures": 5.0, "min_rate": 0.3},
        "evidence": ["ev-1", "ev-2", "ev-3"],
        "group_key": group,
        "status": "firing",
    }
    record.update(fields)
    return record


# --- the webhook receiver ------------------------------------------------------------
class Receiver:
    """Alertmanager's webhook receiver: keeps every notification it is sent."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def about(self, groups: set[str]) -> list[dict[str, Any]]:
        """Notifications whose alerts belong to ``groups``."""
        with self.lock:
            return [
                n
                for n in self.notifications
                if any(a["labels"].get("group_key") in groups for a in n["alerts"])
            ]

    def wait(
        self, groups: set[str], until: Callable[[list[dict[str, Any]]], bool], timeout_s: float
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.about(groups)
            if until(found):
                return found
            time.sleep(0.2)
        return self.about(groups)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def firing_groups(notifications: list[dict[str, Any]]) -> set[str]:
    return {
        a["labels"]["group_key"]
        for n in notifications
        for a in n["alerts"]
        if a["status"] == "firing"
    }


# --- a real Alertmanager -------------------------------------------------------------
@dataclass
class Alertmanager:
    tmp: Path
    receiver_port: int
    shipped: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def webhook(self, name: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.receiver_port}/"
        return {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}

    def config(self) -> dict[str, Any]:
        """A single webhook receiver; or, ``shipped``, deploy/alertmanager/alertmanager.yml
        with every receiver turned into that webhook and the waits made short."""
        if not self.shipped:
            return {
                "route": {
                    "receiver": "test",
                    "group_by": ["group_key"],
                    "group_wait": f"{GROUP_WAIT_S}s",
                    "group_interval": "2s",
                    "repeat_interval": "1h",
                },
                "receivers": [self.webhook("test")],
            }
        config: dict[str, Any] = yaml.safe_load(SHIPPED_CONFIG.read_text())
        config.pop("global", None)
        config["receivers"] = [self.webhook(r["name"]) for r in config["receivers"]]
        routes = [config["route"]]
        while routes:
            route = routes.pop()
            for key, value in (("group_wait", f"{GROUP_WAIT_S}s"), ("group_interval", "2s")):
                if key in route:
                    route[key] = value
            routes.extend(route.get("routes", []))
        return config

    def start(self) -> None:
        if ALERTMANAGER is None:
            pytest.fail(
                "Alertmanager is not installed (Debian: apt-get install prometheus-alertmanager)"
            )
        config = self.config()
        (self.tmp / "alertmanager.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log = (self.tmp / "alertmanager.log").open("ab")
        self.process = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={self.tmp / 'alertmanager.yml'}",
                f"--storage.path={self.tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_tail()
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"Alertmanager not ready:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # it saves its notification log and silences
            self.process.wait(20)
        if self.log is not None:
            self.log.close()
            self.log = None

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def log_tail(self) -> str:
        path = self.tmp / "alertmanager.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


# --- a real `cxpulse notify` ---------------------------------------------------------
@dataclass(kw_only=True)
class Notify(CommandProcess):
    command: ClassVar[str] = "notify"

    def start(self) -> None:
        self.launch()
        self.wait_answering("/readyz", 60.0)

    def get(self, path: str) -> tuple[int | None, str]:
        return self.http_get(path)

    def metric(self, name: str) -> float:
        return metric_total(self.get("/metrics")[1], name)


async def _create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=2, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()


@dataclass
class Stack:
    bootstrap: str
    receiver: Receiver
    alertmanager: Alertmanager
    notify: Notify

    @property
    def alerts_topic(self) -> str:
        return self.notify.env["CXPULSE_ALERTS_TOPIC"]

    def produce(self, *records: dict[str, Any] | bytes) -> None:
        """Keyed by entity id, as the worker publishes alerts: the records of one entity
        (its firing and resolved ones) share a partition and keep their order."""
        keyed = [
            (None, r) if isinstance(r, bytes) else (str(r["entity_id"]).encode(), orjson.dumps(r))
            for r in records
        ]
        asyncio.run(produce(self.bootstrap, self.alerts_topic, keyed))


@pytest.fixture
def make_stack(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def make(shipped: bool = False) -> Stack:
        tmp = tmp_path_factory.mktemp("alertmanager")
        run = uuid.uuid4().hex[:8]
        receiver = Receiver()
        alertmanager = Alertmanager(tmp, receiver.port, shipped)
        env = {
            **os.environ,
            "CXPULSE_KAFKA_BOOTSTRAP": bootstrap,
            "CXPULSE_APP_ID": f"cxpulse-test-{run}",
            "CXPULSE_ALERTS_TOPIC": f"t{run}-alerts",
            "CXPULSE_DEAD_LETTER_TOPIC": f"t{run}-dead-letters",
            "CXPULSE_ALERTMANAGER_URL": alertmanager.url,
            "CXPULSE_ALERTMANAGER_TIMEOUT_S": "2",
            "CXPULSE_NOTIFY_RESEND_INTERVAL_S": "2",
            "CXPULSE_NOTIFY_RETRY_MAX_S": "2",
            "CXPULSE_NOTIFY_WEB_PORT": str(free_port()),
            "CXPULSE_GRAFANA_URL": "http://grafana.test:3000",
            "CXPULSE_LOG_LEVEL": "info",
        }
        asyncio.run(
            _create_topics(
                bootstrap, [env["CXPULSE_ALERTS_TOPIC"], env["CXPULSE_DEAD_LETTER_TOPIC"]]
            )
        )
        notify = Notify(
            env=env, log_path=tmp / "notify.log", port=int(env["CXPULSE_NOTIFY_WEB_PORT"])
        )
        stack = Stack(bootstrap, receiver, alertmanager, notify)
        stacks.append(stack)
        alertmanager.start()
        stack.notify.start()
        return stack

    yield make
    for stack in stacks:
        stack.notify.stop()
        stack.alertmanager.stop()
        stack.receiver.close()


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


def test_an_alert_on_kafka_reaches_the_receiver_with_labels_and_annotations(stack: Stack) -> None:
    record = alert_record("failure_burst:queue:q-billing@2026-01-05T09:00:00+00:00", "q-billing")
    stack.produce(record)

    (notification,) = stack.receiver.wait({record["group_key"]}, bool, timeout_s=30)

    assert notification["status"] == "firing"
    (alert,) = notification["alerts"]
    assert alert["labels"] == {
        "alertname": "failure_burst",
        "severity": "critical",
        "entity_type": "queue",
        "entity_id": "q-billing",
        "queue_id": "q-billing",
        "group_key": record["group_key"],
    }
    annotations = alert["annotations"]
    assert annotations["reason"] == record["reason"]
    assert annotations["summary"] == record["reason"]
    assert annotations["evidence"] == "ev-1, ev-2, ev-3"
    assert annotations["alert_id"] == record["alert_id"]
    assert annotations["dashboard"] == (
        "http://grafana.test:3000/d/cxpulse-service-experience?var-queue=q-billing"
    )
    assert instant(alert["startsAt"]) == instant(record["occurred_at"])
    assert stack.notify.metric("cxpulse_notify_sent_total") >= 1


def test_alerts_of_one_group_key_arrive_as_one_notification(stack: Stack) -> None:
    group = f"failure_burst:service:svc-{uuid.uuid4().hex[:6]}@2026-01-05T09:00:00+00:00"
    customers = [f"cust-{i}" for i in range(5)]
    stack.produce(
        *(
            alert_record(
                group, c, kind="repeat_failure", severity="warning", entity_type="customer"
            )
            for c in customers
        )
    )

    notifications = stack.receiver.wait(
        {group}, lambda ns: sum(len(n["alerts"]) for n in ns) >= len(customers), timeout_s=30
    )
    time.sleep(GROUP_WAIT_S + 2)  # a second notification would have come by now
    notifications = stack.receiver.about({group})

    assert len(notifications) == 1, notifications
    (notification,) = notifications
    assert notification["groupLabels"] == {"group_key": group}
    assert sorted(a["labels"]["entity_id"] for a in notification["alerts"]) == customers
    assert all("queue_id" not in a["labels"] for a in notification["alerts"])


def test_a_resolved_record_arrives_as_a_resolution(stack: Stack) -> None:
    group = f"consistency_drop:agent:ag-{uuid.uuid4().hex[:6]}@2026-01-05T08:00:00+00:00"
    firing = alert_record(
        group,
        "ag-7",
        kind="consistency_drop",
        severity="warning",
        entity_type="agent",
        occurred_at=now_iso(-60),
    )
    stack.produce(firing)
    stack.receiver.wait({group}, bool, timeout_s=30)
    resolved = {
        **firing,
        "alert_id": uuid.uuid4().hex,
        "status": "resolved",
        "occurred_at": now_iso(),
        "reason": "Agent ag-7 is consistent again.",
    }
    stack.produce(resolved)

    notifications = stack.receiver.wait(
        {group}, lambda ns: any(n["status"] == "resolved" for n in ns), timeout_s=30
    )

    assert [n["status"] for n in notifications] == ["firing", "resolved"]
    (alert,) = notifications[1]["alerts"]
    assert alert["status"] == "resolved"
    assert alert["labels"]["agent_id"] == "ag-7"
    assert instant(alert["endsAt"]) == instant(resolved["occurred_at"])
    assert instant(alert["startsAt"]) == instant(firing["occurred_at"])


def test_a_silence_keeps_its_alert_from_the_receiver(stack: Stack) -> None:
    silenced, control = (f"jeopardy:customer:c-{uuid.uuid4().hex[:6]}" for _ in range(2))
    now = datetime.now(UTC)
    silence = stack.alertmanager.api(
        "POST",
        "/api/v2/silences",
        {
            "matchers": [
                {"name": "group_key", "value": silenced, "isRegex": False, "isEqual": True}
            ],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "test",
            "comment": "known: customer already called back",
        },
    )
    kinds = {"kind": "jeopardy", "entity_type": "customer"}
    stack.produce(alert_record(silenced, "c-1", **kinds), alert_record(control, "c-2", **kinds))

    assert stack.receiver.wait({control}, bool, timeout_s=30), "the control alert never came"
    time.sleep(GROUP_WAIT_S + 3)  # the silenced one would have come with it

    assert stack.receiver.about({silenced}) == []
    held = stack.alertmanager.api("GET", "/api/v2/alerts?silenced=true&inhibited=true")
    (alert,) = [a for a in held if a["labels"]["group_key"] == silenced]
    assert alert["status"]["state"] == "suppressed"
    assert alert["status"]["silencedBy"] == [silence["silenceID"]]


def test_a_record_that_is_no_alert_is_dead_lettered_and_the_stream_goes_on(stack: Stack) -> None:
    after = f"failure_burst:queue:q-{uuid.uuid4().hex[:6]}"
    stack.produce(b"{not an alert", alert_record(after, "q-after"))

    assert stack.receiver.wait({after}, bool, timeout_s=30)
    (letter,) = collect(
        stack.bootstrap, stack.notify.env["CXPULSE_DEAD_LETTER_TOPIC"], bool, timeout_s=30
    )
    assert letter["stage"] == "notify"
    assert letter["error"]["reason"] == "invalid_alert"
    assert letter["source"]["topic"] == stack.alerts_topic
    assert letter["payload_preview"] == "{not an alert"
    assert stack.notify.metric('cxpulse_notify_dead_letters_total{reason="invalid_alert"}') == 1


def test_alertmanager_down_for_20_seconds_loses_nothing(stack: Stack) -> None:
    run = uuid.uuid4().hex[:6]

    def batch(name: str) -> list[dict[str, Any]]:
        return [
            alert_record(f"failure_burst:queue:{run}-{name}{i}", f"q-{name}{i}") for i in range(10)
        ]

    before, during, after = batch("before"), batch("during"), batch("after")
    produced = {r["group_key"] for r in [*before, *during, *after]}

    stack.produce(*before)
    assert firing_groups(
        stack.receiver.wait(produced, lambda ns: len(firing_groups(ns)) == 10, timeout_s=30)
    ) == {r["group_key"] for r in before}

    stack.alertmanager.stop()
    stack.produce(*during)
    outage_ends = time.monotonic() + 20
    time.sleep(6)
    ready_status, body = stack.notify.get("/readyz")
    assert ready_status == 503, body
    assert "an Alertmanager that accepts alerts" in body
    assert stack.notify.metric("cxpulse_notify_retrying") == 1
    assert stack.notify.metric("cxpulse_notify_failed_total") > 0
    assert stack.notify.metric("cxpulse_notify_lag") >= 1
    time.sleep(max(0.0, outage_ends - time.monotonic()))
    stack.alertmanager.start()
    stack.produce(*after)

    notifications = stack.receiver.wait(
        produced, lambda ns: firing_groups(ns) >= produced, timeout_s=60
    )
    time.sleep(GROUP_WAIT_S + 3)  # let any repeat arrive before counting
    notifications = stack.receiver.about(produced)

    assert firing_groups(notifications) == produced, produced - firing_groups(notifications)
    per_group: dict[str, int] = {}
    for notification in notifications:
        for alert in notification["alerts"]:
            per_group[alert["labels"]["group_key"]] = (
                per_group.get(alert["labels"]["group_key"], 0) + 1
            )
    repeated = {group: count for group, count in per_group.items() if count > 1}
    print(
        f"{len(produced)} alerts produced, {len(notifications)} notifications, repeated: {repeated}"
    )
    # A repeat can only be the same alert (same labels, same group key) sent again, which
    # the receiver groups with the first; Alertmanager's notification log, kept across its
    # restart, means there should be none.
    assert not repeated
    assert stack.notify.get("/readyz")[0] == 200
    assert stack.notify.metric("cxpulse_notify_retrying") == 0
    assert stack.notify.metric('cxpulse_notify_sent_total{status="firing"}') == 30


def test_a_restarted_notify_still_re_sends_what_fires_and_only_that(stack: Stack) -> None:
    run = uuid.uuid4().hex[:6]
    still, cleared = f"jeopardy:customer:{run}-still", f"jeopardy:customer:{run}-cleared"
    kinds = {"kind": "jeopardy", "entity_type": "customer"}
    firing = alert_record(cleared, "c-2", **kinds)
    stack.produce(alert_record(still, "c-1", **kinds), firing)
    stack.receiver.wait({still, cleared}, lambda ns: len(firing_groups(ns)) == 2, timeout_s=30)
    stack.produce({**firing, "alert_id": uuid.uuid4().hex, "status": "resolved"})
    stack.receiver.wait(
        {cleared}, lambda ns: any(n["status"] == "resolved" for n in ns), timeout_s=30
    )

    # Both restart: Alertmanager forgets its alerts (it keeps silences and what it sent).
    stack.notify.stop()
    stack.alertmanager.stop()
    stack.alertmanager.start()
    assert stack.alertmanager.api("GET", "/api/v2/alerts") == []
    stack.notify.start()

    deadline = time.monotonic() + 20
    held: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not held:
        held = stack.alertmanager.api("GET", "/api/v2/alerts")
        time.sleep(0.5)
    time.sleep(3)  # a re-send of the resolved one would have come too
    held = stack.alertmanager.api("GET", "/api/v2/alerts")

    assert [a["labels"]["group_key"] for a in held] == [still]
    assert held[0]["status"]["state"] == "active"
    # Alertmanager remembers it notified that alert: the re-send pages no one again.
    assert len(stack.receiver.about({still})) == 1


def test_the_shipped_config_routes_an_incident_and_mutes_the_customers_it_caused(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(shipped=True)
    incident = f"failure_burst:service:svc-{uuid.uuid4().hex[:6]}@2026-01-05T09:00:00+00:00"
    alone = f"repeat_failure:customer:c-{uuid.uuid4().hex[:6]}"
    stack.produce(alert_record(incident, "svc-payments", entity_type="service"))
    stack.receiver.wait({incident}, bool, timeout_s=30)
    customer = {"kind": "repeat_failure", "severity": "warning", "entity_type": "customer"}
    stack.produce(
        *(alert_record(incident, f"c-{i}", **customer) for i in range(3)),
        alert_record(alone, "c-alone", **customer),
    )

    assert stack.receiver.wait({alone}, bool, timeout_s=30), "the unrelated customer never came"
    time.sleep(GROUP_WAIT_S + 3)  # the muted ones would have come with it

    (page,) = stack.receiver.about({incident})
    assert page["receiver"] == "cx-incident-pager"
    assert [a["labels"]["entity_type"] for a in page["alerts"]] == ["service"]
    (task,) = stack.receiver.about({alone})
    assert task["receiver"] == "customer-care"
    held = stack.alertmanager.api("GET", "/api/v2/alerts?inhibited=true")
    muted = [a for a in held if a["labels"]["entity_type"] == "customer"]
    muted = [a for a in muted if a["labels"]["group_key"] == incident]
    assert len(muted) == 3
    assert all(a["status"]["state"] == "suppressed" for a in muted)
    assert all(a["status"]["inhibitedBy"] for a in muted)


def test_an_idle_forwarder_still_reports_alertmanager_down(stack: Stack) -> None:
    assert stack.notify.get("/readyz")[0] == 200
    stack.alertmanager.stop()

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and stack.notify.get("/readyz")[0] == 200:
        time.sleep(0.5)
    status, body = stack.notify.get("/readyz")
    assert status == 503, body
    assert "an Alertmanager that accepts alerts" in body

    stack.alertmanager.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and stack.notify.get("/readyz")[0] != 200:
        time.sleep(0.5)
    assert stack.notify.get("/readyz")[0] == 200
    assert stack.notify.metric("cxpulse_notify_ready") == 1
