"""`cxpulse gateway` serves HTTPS with the configured certificate, and answers while Kafka is
unreachable: /healthz 200, /readyz and the API 503 (nothing can be acknowledged)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import aiohttp
import orjson
import pytest

from cxpulse.api.gateway import serve
from cxpulse.config.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_and_503_while_kafka_is_unreachable(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    port = free_port()
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",  # nobody listens there
        api_port=port,
        api_tls_certfile=cert,
        api_tls_keyfile=key,
        api_keys_sha256=hashlib.sha256(b"k").hexdigest(),
    )
    trusted = ssl.create_default_context(cafile=str(cert))

    async def main() -> None:
        stopping = asyncio.Event()
        server = asyncio.create_task(serve(settings, stopping))
        base = f"https://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(100):
                    try:
                        async with session.get(f"{base}/healthz", ssl=trusted) as response:
                            assert response.status == 200
                            break
                    except aiohttp.ClientConnectorError:
                        await asyncio.sleep(0.05)
                async with session.get(f"{base}/readyz", ssl=trusted) as response:
                    assert response.status == 503
                event = {
                    "event_id": "e1",
                    "type": "interaction.started",
                    "occurred_at": "2025-01-06T10:00:00+00:00",
                    "customer_id": "c1",
                    "interaction_id": "i1",
                }
                async with session.post(
                    f"{base}/v1/events",
                    data=orjson.dumps(event),
                    headers={"Authorization": "Bearer k"},
                    ssl=trusted,
                ) as response:
                    assert response.status == 503
                    assert response.headers["Retry-After"] == "5"
                with pytest.raises(aiohttp.ClientError):  # no plain HTTP on a TLS port
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        await response.read()
        finally:
            stopping.set()
            assert await asyncio.wait_for(server, 30) == 0

    asyncio.run(main())
