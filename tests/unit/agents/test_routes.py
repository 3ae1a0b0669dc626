from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.agents.routes import parse_route_key, route_key
from cxpulse.schemas.outputs import EntityType


@given(st.sampled_from(list(EntityType)), st.text(min_size=1, max_size=50))
def test_route_keys_round_trip(entity_type: EntityType, entity_id: str) -> None:
    assert parse_route_key(route_key(entity_type, entity_id)) == (entity_type, entity_id)


@pytest.mark.parametrize("key", [b"agent", b"agent:", b"planet:x"])
def test_foreign_keys_are_refused(key: bytes) -> None:
    with pytest.raises(ValueError, match=r"route key|not a valid"):
        parse_route_key(key)
