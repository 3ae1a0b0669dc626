from __future__ import annotations

import tracemalloc

import orjson

from cxpulse.scoring import compact_json

VALUE = {"customer_id": "cust-00042", "seen": {"e-1": 1_700_000_000_000_000}, "balance": 0.25}


def test_dumps_is_orjson_compact_json() -> None:
    assert compact_json.dumps(VALUE) == orjson.dumps(VALUE)
    assert orjson.loads(compact_json.dumps(VALUE)) == VALUE


def test_kept_values_cost_about_their_length() -> None:
    count = 1_000
    length = len(orjson.dumps(VALUE))
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        kept = [compact_json.dumps(VALUE) for _ in range(count)]
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept) == count
    assert (after - before) / count < length + 128
