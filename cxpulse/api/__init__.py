"""The HTTP API (``cxpulse gateway``): ingest without Kafka, signed platform webhooks, lookup.

``server.build_app`` wires the routes; the pure parts (signatures, body parsing, rate
limiting, the in-memory view of the scores and alerts topics) have modules of their own.
The OpenAPI 3.1 document of every route is ``openapi.json`` beside this file.
"""
