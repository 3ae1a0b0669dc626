"""Prometheus metrics of ``cxpulse gateway`` (``GET /metrics``).

Labels are routes as patterns (``/v1/customers/{id}``), webhook sources from the enabled
adapters and the decode reason codes: bounded, and never an id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "cxpulse_gateway_requests",
            "HTTP requests answered, by route pattern and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.events = Counter(
            "cxpulse_gateway_events",
            "Events of POST /v1/events: accepted (in Kafka) or the rejection's reason code",
            ["verdict"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "cxpulse_gateway_webhooks",
            "Webhook requests by source and status (401: refused by the platform's authentication)",
            ["source", "status"],
            registry=self.registry,
        )
        self.kafka_ack = Histogram(
            "cxpulse_gateway_kafka_ack_seconds",
            "Time from handing a request's records to Kafka to the last acknowledgement",
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.kafka_failures = Counter(
            "cxpulse_gateway_kafka_failures",
            "Requests answered 503 because Kafka did not acknowledge every record",
            registry=self.registry,
        )
        self.lookup_entities = Gauge(
            "cxpulse_gateway_lookup_entities",
            "Entities with a snapshot in the lookup view",
            registry=self.registry,
        )
        self.kafka_failures.inc(0)
