from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.schemas.outputs import EntityType
from cxpulse.scoring.entity import summary_routes
from cxpulse.scoring.summary import (
    FOLLOWUP,
    INTERACTION,
    MENTION,
    PROMISE,
    RULE,
    InteractionSummary,
)
from cxpulse.worker.routes import (
    parse_route_key,
    route_key,
    route_partition,
    routes_in,
    summary_partitions,
)


@given(st.sampled_from(list(EntityType)), st.text(min_size=1, max_size=50))
def test_route_keys_round_trip(entity_type: EntityType, entity_id: str) -> None:
    assert parse_route_key(route_key(entity_type, entity_id)) == (entity_type, entity_id)


@pytest.mark.parametrize("key", [b"agent", b"agent:", b"planet:x"])
def test_foreign_keys_are_refused(key: bytes) -> None:
    with pytest.raises(ValueError, match=r"entity key|not a valid"):
        parse_route_key(key)


SUMMARIES = st.builds(
    InteractionSummary,
    kind=st.sampled_from([INTERACTION, FOLLOWUP, PROMISE, MENTION, RULE]),
    agent_id=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
    queue_id=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
    service_id=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
    term=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
    rule_id=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
)


@given(st.sampled_from(list(EntityType)), st.text(min_size=1, max_size=50), st.integers(1, 64))
def test_an_entity_lives_where_the_default_partitioner_puts_its_route_key(
    entity_type: EntityType, entity_id: str, partitions: int
) -> None:
    every = list(range(partitions))
    expected = DefaultPartitioner()(route_key(entity_type, entity_id), every, every)
    assert route_partition(entity_type, entity_id, partitions) == expected


@given(SUMMARIES, st.integers(1, 8))
def test_each_entity_of_a_summary_is_kept_by_exactly_one_partition(
    summary: InteractionSummary, partitions: int
) -> None:
    sent_to = summary_partitions(summary, partitions)
    assert len(sent_to) == len(set(sent_to))
    kept = [route for p in sent_to for route in routes_in(summary, None, p, partitions)]
    assert sorted(kept) == sorted(summary_routes(summary))
    others = set(range(partitions)) - set(sent_to)
    assert all(routes_in(summary, None, p, partitions) == [] for p in others)


def test_agent_and_queue_on_one_partition_share_one_record() -> None:
    summary = InteractionSummary(agent_id="a1", queue_id="q1")
    assert summary_partitions(summary, 1) == [0]
    assert routes_in(summary, None, 0, 1) == [(EntityType.AGENT, "a1"), (EntityType.QUEUE, "q1")]


def test_a_record_keyed_by_an_entity_is_for_that_entity_only() -> None:
    # as written before summaries were bundled per partition
    summary = InteractionSummary(agent_id="a1", queue_id="q1")
    key = route_key(EntityType.QUEUE, "q1")
    assert routes_in(summary, key, 3, 4) == [(EntityType.QUEUE, "q1")]
