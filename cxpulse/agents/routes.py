"""Keys of the internal summaries topic: one key per (entity type, entity id)."""

from __future__ import annotations

from cxpulse.schemas.outputs import EntityType

SEPARATOR = ":"


def route_key(entity_type: EntityType, entity_id: str) -> bytes:
    return f"{entity_type.value}{SEPARATOR}{entity_id}".encode()


def parse_route_key(key: bytes) -> tuple[EntityType, str]:
    """Inverse of ``route_key``; raises ``ValueError`` for a key it did not make."""
    entity_type, separator, entity_id = key.decode().partition(SEPARATOR)
    if not separator or not entity_id:
        raise ValueError(f"not a route key: {key!r}")
    return EntityType(entity_type), entity_id
