"""The lane (events-topic partition) of a customer, as Kafka's default partitioner picks it.

The customer scorer runs once per partition of the customer-keyed events topic; the entity
scorers keep one watermark per such lane (scoring/entity.py).  The replay has no broker, so
it recomputes the partition of each customer id: Java's ``Utils.murmur2`` of the key bytes,
made positive and taken modulo the partition count.
"""

from __future__ import annotations

__all__ = ["lane_for", "murmur2", "partition_for"]

_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 of ``data`` as Kafka computes it: a signed 32-bit Java ``int``."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> _R
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail >= 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key``."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def lane_for(customer_id: str, lanes: int) -> int:
    """The partition Kafka's default partitioner gives the key ``customer_id`` (UTF-8)."""
    return partition_for(customer_id.encode(), lanes)
