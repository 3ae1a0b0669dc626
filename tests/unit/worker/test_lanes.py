from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from cxpulse.worker.lanes import lane_for, murmur2


@pytest.mark.parametrize(
    ("data", "expected"),
    [  # the reference values of Kafka's own UtilsTest.testMurmur2
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_the_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_murmur2_matches_aiokafka_on_random_bytes() -> None:
    rnd = random.Random(1)
    for length in range(0, 40):
        for _ in range(25):
            data = rnd.randbytes(length)
            assert murmur2(data) % 2**32 == aiokafka_murmur2(data)
            assert -(2**31) <= murmur2(data) < 2**31


@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 7, 12, 64])
def test_lane_for_matches_the_default_partitioner(lanes: int) -> None:
    rnd = random.Random(lanes)
    partitioner = DefaultPartitioner()
    partitions = list(range(lanes))
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_éü漢"
    seen = set()
    for _ in range(500):
        customer_id = "".join(rnd.choices(alphabet, k=rnd.randrange(1, 24)))
        lane = lane_for(customer_id, lanes)
        assert lane == partitioner(customer_id.encode(), partitions, partitions)
        seen.add(lane)
    assert seen == set(partitions)


def test_lane_for_rejects_no_lanes() -> None:
    with pytest.raises(ValueError, match="partitions must be >= 1"):
        lane_for("c1", 0)
