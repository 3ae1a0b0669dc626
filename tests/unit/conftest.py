"""Unit-test fixtures: vendor payloads (tests/payloads) as their platforms document them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"


def payload_bytes(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes().strip()


@pytest.fixture
def raw() -> Callable[[str], bytes]:
    """The bytes of one payload fixture."""
    return payload_bytes


@pytest.fixture
def doc() -> Callable[[str], Any]:
    """One JSON payload fixture, decoded, to derive variants from."""
    return lambda name: json.loads(payload_bytes(name))
