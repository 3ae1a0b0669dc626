"""Where summaries go: the entities (routes) a summary updates and their partitions.

The summaries topic carries one bundle per batch and partition, not one per entity: a
live batch touches most agents, so a bundle per entity came to about one record per
input event.  A summary travels once to each partition that keeps one of its entities;
an entity lives on the partition Kafka's default partitioner gives its route key, where
it lived when each entity had its own records, so its state stays put across versions.
"""

from __future__ import annotations

from functools import lru_cache

from cxpulse.schemas.outputs import EntityType
from cxpulse.scoring.entity import summary_routes
from cxpulse.scoring.partition import Route, entity_key, parse_entity_key
from cxpulse.scoring.summary import InteractionSummary
from cxpulse.worker.lanes import partition_for


def route_key(entity_type: EntityType, entity_id: str) -> bytes:
    return entity_key(entity_type, entity_id).encode()


def parse_route_key(key: bytes) -> Route:
    """Inverse of ``route_key``; raises ``ValueError`` for a key it did not make."""
    return parse_entity_key(key.decode())


@lru_cache(maxsize=1 << 16)
def route_partition(entity_type: EntityType, entity_id: str, partitions: int) -> int:
    """The summaries-topic partition of an entity (cached: hashing runs in Python)."""
    return partition_for(route_key(entity_type, entity_id), partitions)


def summary_partitions(summary: InteractionSummary, partitions: int) -> list[int]:
    """The partitions ``summary`` is sent to, each once, in the order of its routes."""
    found = [route_partition(*route, partitions) for route in summary_routes(summary)]
    return list(dict.fromkeys(found))


def routes_in(
    summary: InteractionSummary, record_key: bytes | None, partition: int, partitions: int
) -> list[Route]:
    """The entities of ``summary`` kept by the scorer of summaries ``partition``.

    A record keyed by a route key (written before summaries were bundled per partition)
    is for that one entity.
    """
    if record_key is not None:
        return [parse_route_key(record_key)]
    return [
        route
        for route in summary_routes(summary)
        if route_partition(*route, partitions) == partition
    ]
