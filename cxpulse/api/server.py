"""The routes of ``cxpulse gateway``: ingest, webhooks, lookup, and the OpenAPI document.

Every answer is JSON; an error is ``{"error": <code>, "message": <sentence>}`` with the
status the OpenAPI document gives it.  A request to Kafka is answered 202 only once Kafka
acknowledged all its records (``sink.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import generate_latest

from cxpulse.adapters import ADAPTERS
from cxpulse.adapters.ordering import ordering_key
from cxpulse.api import auth
from cxpulse.api.body import parse_events_yielding
from cxpulse.api.metrics import GatewayMetrics
from cxpulse.api.ratelimit import RateLimiter
from cxpulse.api.sink import KafkaUnavailable, Record
from cxpulse.config.settings import Settings
from cxpulse.edge.decode import Rejection
from cxpulse.edge.redact import Redactor

log = logging.getLogger("cxpulse.gateway")

OPENAPI = orjson.loads(resources.files("cxpulse.api").joinpath("openapi.json").read_bytes())

#: Webhook sources authenticated by a static key header, and their setting.
KEY_SOURCES = {
    "amazon-connect-ctr": "api_webhook_key_amazon_connect_ctr",
    "amazon-connect-events": "api_webhook_key_amazon_connect_events",
    "genesys-cloud": "api_webhook_key_genesys_cloud",
}
TWILIO = "twilio-taskrouter"
ZENDESK = "zendesk"
assert set(ADAPTERS) == {*KEY_SOURCES, TWILIO, ZENDESK}, "a new adapter needs its webhook auth"


class Sink(Protocol):
    @property
    def ready(self) -> bool: ...

    async def send_all(self, records: list[Record]) -> None: ...


class View(Protocol):
    """What the lookups read (``lookup.ScoreView``)."""

    def waiting(self) -> str | None: ...

    def entity(self, entity_type: str, entity_id: str) -> dict[str, Any] | None: ...

    def incidents(self, status: str) -> list[dict[str, Any]]: ...

    def rules(self) -> list[dict[str, Any]]: ...

    def size(self) -> int: ...


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return json_response({"error": code, "message": message}, status, headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: aiohttp's own refusals, as error codes.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        code = HTTP_CODES.get(exc.status, "http_error")
        return error_response(exc.status, code, exc.reason, headers)


class Gateway:
    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        view: View | None = None,
        *,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.view = view
        self.clock = clock
        self.limiter = limiter or RateLimiter(settings.api_rate_per_s, settings.api_rate_burst)
        self.key_digests = settings.api_key_hashes()
        self.redactor = Redactor.from_settings(settings)
        self.retry_after = {"Retry-After": str(settings.api_retry_after_s)}
        self.metrics = metrics or GatewayMetrics()
        for source in settings.enabled_adapters():
            for status in ("202", "204", "401"):
                self.metrics.webhooks.labels(source, status).inc(0)

    # --- shared checks ---------------------------------------------------------------

    def _caller(self, request: web.Request) -> str:
        """The API key's caller id (``key:<index>``), or 401."""
        token = auth.bearer_token(request.headers.get("Authorization"))
        index = auth.match_api_key(token, self.key_digests)
        if index is None:
            message = (
                "this request needs an API key: Authorization: Bearer <key>"
                if token is None
                else "the API key is not valid"
            )
            raise ApiError(401, "unauthorised", message, {"WWW-Authenticate": "Bearer"})
        return f"key:{index}"

    def _throttle(self, caller: str) -> None:
        wait = self.limiter.check(caller)
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"more than {self.settings.api_rate_per_s:g} requests per second; "
                f"try again in {wait} s",
                {"Retry-After": str(wait)},
            )

    async def _body(self, request: web.Request, limit: int) -> bytes:
        too_large = ApiError(413, "too_large", f"the body is larger than {limit} bytes")
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise too_large from None
        if len(body) > limit:
            raise too_large
        return body

    async def _deliver(self, records: list[Record]) -> None:
        if not self.sink.ready:
            raise ApiError(
                503,
                "kafka_unavailable",
                f"not connected to Kafka yet; nothing was written, try again in "
                f"{self.settings.api_retry_after_s} s",
                self.retry_after,
            )
        started = time.perf_counter()
        try:
            await self.sink.send_all(records)
            self.metrics.kafka_ack.observe(time.perf_counter() - started)
        except KafkaUnavailable as exc:
            self.metrics.kafka_failures.inc()
            raise ApiError(
                503,
                "kafka_unavailable",
                f"{exc}; the request is not acknowledged: send it again (events already "
                "taken are dropped as duplicates by event_id)",
                self.retry_after,
            ) from None

    # --- ingest ----------------------------------------------------------------------

    async def post_events(self, request: web.Request) -> web.Response:
        self._throttle(self._caller(request))
        body = await self._body(request, self.settings.api_max_body_bytes)
        items = await parse_events_yielding(
            body, request.content_type, self.settings.max_event_bytes
        )
        if isinstance(items, Rejection):
            unreadable = [_rejected(0, items)]
            self._count_verdicts(unreadable)
            return json_response({"accepted": 0, "rejected": 1, "results": unreadable}, 422)
        results: list[dict[str, Any]] = []
        records: list[Record] = []
        for index, item in enumerate(items):
            if isinstance(item.result, Rejection):
                results.append(_rejected(index, item.result))
                continue
            event = item.result
            records.append(Record(self.settings.input_topic, event.customer_id.encode(), item.raw))
            results.append({"index": index, "status": "accepted", "event_id": event.event_id})
        answer = {"accepted": len(records), "rejected": len(results) - len(records)}
        if not records:
            if not results:
                results.append(_rejected(0, Rejection("empty", "the body holds no event")))
                answer["rejected"] = 1
            self._count_verdicts(results)
            return json_response({**answer, "results": results}, 422)
        await self._deliver(records)
        self._count_verdicts(results)
        return json_response({**answer, "results": results}, 202)

    def _count_verdicts(self, results: list[dict[str, Any]]) -> None:
        for result in results:
            verdict = "accepted" if result["status"] == "accepted" else str(result["reason"])
            self.metrics.events.labels(verdict).inc()

    # --- webhooks --------------------------------------------------------------------

    async def post_webhook(self, request: web.Request) -> web.Response:
        source = request.match_info["source"]
        if source not in self.settings.enabled_adapters():
            known = ", ".join(self.settings.enabled_adapters()) or "none"
            raise ApiError(
                404, "unknown_source", f"no webhook for {source!r}; enabled sources: {known}"
            )
        limit = min(self.settings.api_max_body_bytes, self.settings.max_event_bytes)
        body = await self._body(request, limit)
        refused = self._webhook_refusal(source, request, body)
        if refused is not None:
            log.warning("webhook %s refused: %s", source, refused)
            raise ApiError(401, "unauthorised", f"{source}: {refused}")
        self._throttle(f"webhook:{source}")
        if not body:
            raise ApiError(400, "empty", "the webhook has no body")
        topic = self.settings.raw_topic(source)
        await self._deliver([Record(topic, ordering_key(source, body), body)])
        if source == TWILIO:  # TaskRouter's event callbacks expect 204 No Content
            return web.Response(status=204)
        return json_response({"accepted": True, "source": source, "topic": topic}, 202)

    def _webhook_refusal(self, source: str, request: web.Request, body: bytes) -> str | None:
        """None if the platform's own authentication holds, else why not."""
        settings = self.settings
        if source == TWILIO:
            token = settings.api_twilio_auth_token
            if token is None:
                return "no auth token is configured (CXPULSE_API_TWILIO_AUTH_TOKEN)"
            url = self.public_url(request)
            signature = request.headers.get(auth.TWILIO_SIGNATURE)
            if not auth.twilio_valid(
                url, body, request.content_type, signature, token.get_secret_value()
            ):
                return f"{auth.TWILIO_SIGNATURE} is missing or not Twilio's for {url}"
            return None
        if source == ZENDESK:
            secret = settings.api_zendesk_webhook_secret
            if secret is None:
                return "no signing secret is configured (CXPULSE_API_ZENDESK_WEBHOOK_SECRET)"
            return auth.zendesk_check(
                body,
                signature=request.headers.get(auth.ZENDESK_SIGNATURE),
                timestamp=request.headers.get(auth.ZENDESK_TIMESTAMP),
                secret=secret.get_secret_value(),
                now=datetime.fromtimestamp(self.clock(), UTC),
                max_age_s=settings.api_zendesk_max_age_s,
            )
        field = KEY_SOURCES[source]
        key = getattr(settings, field)
        if key is None:
            return f"no webhook key is configured (CXPULSE_{field.upper()})"
        presented = request.headers.get(settings.api_webhook_key_header)
        if not auth.same_secret(presented, key.get_secret_value()):
            return f"{settings.api_webhook_key_header} is missing or wrong"
        return None

    def public_url(self, request: web.Request) -> str:
        """The URL the platform called, as it signed it."""
        base = self.settings.api_public_url or f"{request.scheme}://{request.host}"
        return base + request.raw_path

    # --- lookup ----------------------------------------------------------------------

    def _view(self, request: web.Request) -> View:
        self._throttle(self._caller(request))
        view = self.view
        if view is None:
            raise ApiError(404, "not_found", "lookups are off (CXPULSE_API_LOOKUP=false)")
        waiting = view.waiting()
        if waiting is not None:
            raise ApiError(503, "catching_up", waiting, self.retry_after)
        return view

    def entity_handler(self, entity_type: str) -> Handler:
        async def lookup(request: web.Request) -> web.Response:
            view = self._view(request)
            wanted = request.match_info["id"]
            shown = self.redactor.customer_id(wanted) if entity_type == "customer" else wanted
            found = view.entity(entity_type, shown)
            if found is None:
                named = "that customer" if shown != wanted else f"{entity_type} {shown!r}"
                raise ApiError(
                    404,
                    "not_found",
                    f"no scores for {named}: no event has named it yet, or its snapshots "
                    "are older than the scores topic keeps",
                )
            return json_response(found)

        return lookup

    async def get_incidents(self, request: web.Request) -> web.Response:
        view = self._view(request)
        status = request.query.get("status", "firing")
        if status not in ("firing", "resolved", "all"):
            raise ApiError(400, "bad_request", "status must be firing, resolved or all")
        return json_response({"status": status, "incidents": view.incidents(status)})

    async def get_rules(self, request: web.Request) -> web.Response:
        return json_response({"rules": self._view(request).rules()})

    # --- service ---------------------------------------------------------------------

    async def openapi(self, _request: web.Request) -> web.Response:
        return json_response(OPENAPI)

    async def prometheus(self, _request: web.Request) -> web.Response:
        if self.view is not None:
            self.metrics.lookup_entities.set(self.view.size())
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    @web.middleware
    async def count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        status = str(response.status)
        self.metrics.requests.labels(route, status).inc()
        if route == "/v1/webhooks/{source}":
            source = request.match_info.get("source", "")
            known = source in self.settings.enabled_adapters()
            self.metrics.webhooks.labels(source if known else "unknown", status).inc()
        return response

    async def healthz(self, _request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        waiting = []
        if not self.sink.ready:
            waiting.append("the topics and a Kafka connection")
        if self.view is not None and self.view.waiting() is not None:
            waiting.append("the scores and alerts topics read to their end")
        return json_response(
            {"ready": not waiting, "waiting_for": waiting}, 503 if waiting else 200
        )

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self.count, errors_as_json],
            client_max_size=self.settings.api_max_body_bytes,
        )
        app.router.add_get("/openapi.json", self.openapi, allow_head=False)
        app.router.add_get("/healthz", self.healthz, allow_head=False)
        app.router.add_get("/readyz", self.readyz, allow_head=False)
        app.router.add_get("/metrics", self.prometheus, allow_head=False)
        app.router.add_post("/v1/events", self.post_events)
        app.router.add_post("/v1/webhooks/{source}", self.post_webhook)
        for plural, entity_type in ENTITY_ROUTES.items():
            app.router.add_get(
                f"/v1/{plural}/{{id}}", self.entity_handler(entity_type), allow_head=False
            )
        app.router.add_get("/v1/incidents", self.get_incidents, allow_head=False)
        app.router.add_get("/v1/rules", self.get_rules, allow_head=False)
        return app


ENTITY_ROUTES = {
    "customers": "customer",
    "agents": "agent",
    "queues": "queue",
    "services": "service",
}


def _rejected(index: int, rejection: Rejection) -> dict[str, Any]:
    return {
        "index": index,
        "status": "rejected",
        "reason": rejection.reason,
        "message": rejection.message,
        "details": list(rejection.details),
    }
