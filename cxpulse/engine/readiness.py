"""Readiness of a worker: what ``/readyz`` still waits for.

The broker check reads faust's consumer thread's aiokafka client, a private path
(``app.consumer._thread._consumer._client._conns``; canary in
tests/unit/engine/test_canaries.py).  It fails closed: when the path is not there the
worker is not ready, and the log says why once.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_warned: set[str] = set()


def waiting_for(app: Any) -> list[str]:
    """What readiness still waits for (nothing: ready): partitions assigned, no rebalance,
    every table recovered from its changelog, a broker connected."""
    recovery = app.tables.recovery
    conditions = (
        ("partition assignment", bool(app.consumer.assignment())),
        ("the end of a rebalance", not app.rebalancing),
        ("table recovery", not recovery.in_recovery and recovery.completed.is_set()),
        ("a broker connection", broker_connected(app)),
    )
    return [name for name, met in conditions if not met]


def is_ready(app: Any) -> bool:
    return not waiting_for(app)


def readiness(app: Any) -> tuple[dict[str, Any], int]:
    """``/readyz``'s body and status."""
    waiting = waiting_for(app)
    return {"ready": not waiting, "waiting_for": waiting}, 503 if waiting else 200


def broker_connected(app: Any) -> bool:
    """Whether the consumer holds an open connection to a broker.

    Its fetches keep one open while a broker answers (one returns at least every
    ``fetch_max_wait_ms``); in an outage every connection closes and each reconnect is
    refused: without this check a worker reported ready through a whole broker outage.
    The consumer lives in faust's consumer thread; before it has started nothing is
    connected.
    """
    thread = getattr(app.consumer, "_thread", None)
    consumer = getattr(thread, "_consumer", None)
    if consumer is None:
        return False  # not started yet: nothing is connected
    connections = getattr(getattr(consumer, "_client", None), "_conns", None)
    if connections is None:
        _warn_once(
            "readiness: faust's consumer thread holds no aiokafka client connections at "
            "_consumer._client._conns (an upgrade moved them?); the worker reports not "
            "ready until cxpulse/engine/readiness.py reads them again"
        )
        return False
    return any(connection.connected() for connection in list(connections.values()))


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.error(message)
