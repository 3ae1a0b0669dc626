"""The OpenAPI document kept in the repo describes exactly the routes the gateway serves."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from cxpulse.adapters import ADAPTERS
from cxpulse.api.openapi_events import event_schemas
from cxpulse.api.server import OPENAPI, Gateway
from cxpulse.config.settings import Settings


class NoSink:
    ready = False

    async def send_all(self, _records: list[Any]) -> None:
        raise AssertionError("not in this test")


def served_routes() -> set[tuple[str, str]]:
    app = Gateway(Settings(), NoSink()).app()
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        assert isinstance(path, str)
        routes.add((route.method.lower(), path))
    return routes


def documented_routes() -> set[tuple[str, str]]:
    return {(method, path) for path, ops in OPENAPI["paths"].items() for method in ops}


def test_every_route_is_documented_and_every_documented_route_served() -> None:
    assert served_routes() == documented_routes()


def test_document_is_openapi_3_1_and_every_ref_resolves() -> None:
    assert OPENAPI["openapi"].startswith("3.1")
    schemas = OPENAPI["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(OPENAPI):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref


def test_webhook_sources_are_the_adapters() -> None:
    (source,) = [
        p
        for p in OPENAPI["paths"]["/v1/webhooks/{source}"]["post"]["parameters"]
        if p["name"] == "source"
    ]
    assert source["schema"]["enum"] == list(ADAPTERS)


def test_every_error_status_a_route_can_answer_is_documented() -> None:
    """The statuses the handlers raise, per route (read from the server's behaviour)."""
    expected = {
        ("post", "/v1/events"): {"202", "401", "413", "422", "429", "503"},
        ("post", "/v1/webhooks/{source}"): {"202", "204", "400", "401", "404", "413", "429", "503"},
        ("get", "/v1/incidents"): {"200", "400", "401", "404", "429", "503"},
        ("get", "/v1/customers/{id}"): {"200", "401", "404", "429", "503"},
        ("get", "/v1/rules"): {"200", "401", "404", "429", "503"},
        ("get", "/readyz"): {"200", "503"},
        ("get", "/metrics"): {"200"},
    }
    for (method, path), statuses in expected.items():
        assert set(OPENAPI["paths"][path][method]["responses"]) == statuses, path


def test_openapi_is_served(tmp_path: Any) -> None:
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    async def main() -> None:
        key = "k" * 20
        gateway = Gateway(
            Settings(api_keys_sha256=hashlib.sha256(key.encode()).hexdigest()), NoSink()
        )
        app: web.Application = gateway.app()
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get("/openapi.json")
            assert response.status == 200
            assert await response.json() == OPENAPI

    asyncio.run(main())


def test_the_event_schemas_are_the_contract() -> None:
    """Run `python -m cxpulse.api.openapi_events` after a change to cxpulse/schemas/events.py."""
    documented = OPENAPI["components"]["schemas"]
    for name, schema in event_schemas().items():
        assert documented.get(name) == schema, name


def test_the_document_loads_as_openapi() -> None:
    import schemathesis
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_dict(OPENAPI)
    operations = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.add((result.ok().method.lower(), result.ok().path))
    assert operations == documented_routes()
