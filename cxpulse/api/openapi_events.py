"""The event contract inside the OpenAPI document, kept equal to the pydantic models.

``openapi.json`` is edited by hand, except ``components.schemas.Event`` and the schemas it
refers to, which are the JSON Schema of ``cxpulse.schemas.events`` (what ``cxpulse schema``
prints).  A unit test compares them; after a change to the contract, run
``python -m cxpulse.api.openapi_events`` to write them into the document again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from cxpulse.schemas.events import EVENT_ADAPTER

DOCUMENT = Path(__file__).with_name("openapi.json")


def event_schemas() -> dict[str, Any]:
    """``Event`` (the discriminated union) and every schema it refers to."""
    schema = EVENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs")
    return {**definitions, "Event": schema}


def rewrite(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    schemas.update(event_schemas())
    return document


def main() -> None:
    document = rewrite(orjson.loads(DOCUMENT.read_bytes()))
    DOCUMENT.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


if __name__ == "__main__":
    main()
