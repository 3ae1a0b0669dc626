"""Throwaway certificates for a TLS test broker, made with the ``openssl`` command."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
DAYS = "2"


@dataclass(frozen=True)
class Pki:
    ca: Path  # trusted by clients: the CA that signed the broker certificate
    other_ca: Path  # an unrelated CA, for "untrusted certificate" checks
    broker_keystore: Path  # broker key, certificate and chain, for ssl.keystore.type=PEM
    client_cert: Path  # a client certificate whose key is encrypted with client_key_password
    client_key: Path
    client_key_password: str


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    openssl(
        "req", "-x509", *EC_KEY, "-nodes", "-keyout", str(key), "-out", str(cert),
        "-days", DAYS, "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def make_pki(directory: Path) -> Pki:
    """A CA, a broker certificate for localhost / 127.0.0.1 signed by it, and strangers."""
    ca, ca_key = make_ca(directory, "cxpulse-test-ca")
    other_ca, _ = make_ca(directory, "unrelated-ca")
    extensions = directory / "broker.ext"
    extensions.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyAgreement\n"
    )
    openssl(
        "req", *EC_KEY, "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
        "-subj", "/CN=localhost",
        cwd=directory,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", "broker.csr", "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", "broker.pem", "-days", DAYS, "-extfile", str(extensions),
        cwd=directory,
    )  # fmt: skip
    keystore = directory / "broker-keystore.pem"
    keystore.write_text(
        "".join((directory / name).read_text() for name in ("broker.key", "broker.pem"))
        + ca.read_text()
    )
    password = "client-key-pass"
    openssl(
        "req", "-x509", *EC_KEY, "-keyout", "client.key", "-out", "client.pem",
        "-days", DAYS, "-subj", "/CN=cxpulse-client", "-passout", f"pass:{password}",
        cwd=directory,
    )  # fmt: skip
    return Pki(
        ca=ca,
        other_ca=other_ca,
        broker_keystore=keystore,
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        client_key_password=password,
    )
