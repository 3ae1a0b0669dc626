"""The cxpulse benchmark: throughput, latency and memory on a real Kafka broker.

Run it with ``python -m bench.run`` (or ``make bench``); see ``docs/performance.md``.
"""
