"""A Quix Streams app over the benchmark's preloaded topic: the peer cxpulse is measured
against (``make bench`` step 8).

Run by the benchmark with the interpreter of its own virtual environment (Quix Streams
and its librdkafka client stay out of cxpulse's dependencies):
``python bench/quix_peer.py BOOTSTRAP TOPIC GROUP COUNT MODE STATE_DIR``, MODE ``noop``
(count records, at-least-once) or ``count`` (a per-key count in its RocksDB state,
exactly-once). Prints one JSON line: events/s between the first and the last record it
handled, and its CPU time per record over the same stretch.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    from quixstreams import Application

    bootstrap, topic_name, group, count_text, mode, state_dir = argv
    count = int(count_text)
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once" if mode == "count" else "at-least-once",
        state_dir=state_dir,
        loglevel="WARNING",
    )
    topic = app.topic(topic_name, key_deserializer="bytes", value_deserializer="bytes")
    seen = {"n": 0, "first": 0.0, "last": 0.0, "cpu_first": 0.0, "cpu_last": 0.0}

    def handled() -> None:
        now = time.perf_counter()
        if seen["n"] == 0:
            seen["first"], seen["cpu_first"] = now, cpu_seconds()
        seen["n"] += 1
        if seen["n"] >= count:
            seen["last"], seen["cpu_last"] = now, cpu_seconds()
            app.stop()

    def noop(_value: Any) -> None:
        handled()

    def per_key(_value: Any, state: Any) -> None:
        state.set("n", state.get("n", 0) + 1)
        handled()

    sdf = app.dataframe(topic)
    if mode == "count":
        sdf.update(per_key, stateful=True)
    else:
        sdf.update(noop)
    app.run()
    if seen["n"] < count:
        print(json.dumps({"error": f"stopped after {seen['n']} of {count} records"}))
        return 1
    seconds = seen["last"] - seen["first"]
    print(
        json.dumps(
            {
                "events_per_s": count / seconds if seconds > 0 else 0.0,
                "cpu_us_per_event": (seen["cpu_last"] - seen["cpu_first"]) / count * 1e6,
                "records": seen["n"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
