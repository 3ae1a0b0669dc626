"""Adapters from contact-center platforms to canonical v1 events.

``ADAPTERS`` maps a source name to its adapter (raw payload bytes -> validated events, or
``AdapterError``); ``DEFAULT_TOPICS`` names the Kafka topic each platform's raw payloads are
expected on.  docs/adapters.md describes each mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cxpulse.adapters import (
    amazon_connect_ctr,
    amazon_connect_events,
    genesys_cloud,
    twilio_taskrouter,
    zendesk,
)
from cxpulse.adapters.base import Adapter, AdapterError

ADAPTERS: Mapping[str, Adapter] = MappingProxyType(
    {
        "amazon-connect-ctr": amazon_connect_ctr.adapt,
        "amazon-connect-events": amazon_connect_events.adapt,
        "twilio-taskrouter": twilio_taskrouter.adapt,
        "genesys-cloud": genesys_cloud.adapt,
        "zendesk": zendesk.adapt,
    }
)

DEFAULT_TOPICS: Mapping[str, str] = MappingProxyType({name: f"raw.{name}" for name in ADAPTERS})

__all__ = ["ADAPTERS", "DEFAULT_TOPICS", "Adapter", "AdapterError"]
