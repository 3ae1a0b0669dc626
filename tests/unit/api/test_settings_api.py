"""The gateway's settings: secrets from files and masked, key digests and TLS checked at start."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from cxpulse.api import auth
from cxpulse.config.settings import Settings


def test_defaults_bind_loopback_and_accept_no_key() -> None:
    settings = Settings()
    assert settings.api_host == "127.0.0.1"
    assert settings.api_key_hashes() == ()
    assert settings.api_max_body_bytes == 1_048_576


def test_key_digests_are_parsed_and_a_plain_key_is_refused() -> None:
    digest = hashlib.sha256(b"k1").hexdigest()
    settings = Settings(api_keys_sha256=f"{digest}, {digest.upper()}")
    assert settings.api_key_hashes() == (auth.key_digest("k1"),) * 2
    with pytest.raises(ValidationError, match="is not a SHA-256 hex digest") as refused:
        Settings(api_keys_sha256="my-plain-secret-key")
    assert "my-plain-secret-key" not in str(refused.value)


def test_secrets_come_from_files_and_are_never_printed(tmp_path: Path) -> None:
    token_file = tmp_path / "twilio"
    token_file.write_text("s3cret-token\n")
    settings = Settings(api_twilio_auth_token_file=token_file, api_webhook_key_genesys_cloud="gk")
    assert settings.api_twilio_auth_token is not None
    assert settings.api_twilio_auth_token.get_secret_value() == "s3cret-token"
    assert "s3cret-token" not in repr(settings)
    assert "gk'" not in repr(settings)
    with pytest.raises(ValidationError, match="not both"):
        Settings(api_twilio_auth_token="inline", api_twilio_auth_token_file=token_file)


def test_empty_secret_variables_mean_unset() -> None:
    settings = Settings(api_zendesk_webhook_secret="", api_zendesk_webhook_secret_file="")
    assert settings.api_zendesk_webhook_secret is None


def test_tls_needs_both_files_and_a_readable_one(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(ValidationError, match="needs both"):
        Settings(api_tls_certfile=cert)
    with pytest.raises(ValidationError, match="cannot read"):
        Settings(api_tls_certfile=cert, api_tls_keyfile=tmp_path / "missing.pem")


def test_public_url_is_an_origin() -> None:
    assert Settings(api_public_url="https://cx.example.com:8443").api_public_url
    with pytest.raises(ValidationError, match="is not scheme://host"):
        Settings(api_public_url="https://cx.example.com/path")
