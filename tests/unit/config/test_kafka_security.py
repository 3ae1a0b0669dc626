from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from aiokafka.errors import UnsupportedSaslMechanismError as UnsupportedMechanism
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from cxpulse.config.kafka_security import (
    KafkaAccessError,
    aiokafka_security_kwargs,
    check_broker_access,
    explain_failure,
    faust_broker_kwargs,
    hide_sasl_payloads_in_logs,
)
from cxpulse.config.settings import (
    Settings,
    add_settings_arguments,
    settings_from_args,
    split_patterns,
)
from tests.integration.conftest import free_port
from tests.integration.sasl.certs import Pki, make_pki

SECRET = "s3cret-Pa55word-xyzzy"
KEY = "k" * 24
SASL: dict[str, Any] = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "cxpulse",
    "kafka_sasl_password": SECRET,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"CXPULSE_{name.upper()}", raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# --- settings: secrets stay masked ---------------------------------------------------------


def test_secrets_are_masked_in_repr_str_and_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CXPULSE_KAFKA_SASL_USERNAME", "cxpulse")
    monkeypatch.setenv("CXPULSE_KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("CXPULSE_PSEUDONYM_KEY", KEY)
    settings = Settings()
    for shown in (repr(settings), str(settings), str(settings.model_dump())):
        assert SECRET not in shown
        assert KEY not in shown
    assert SECRET not in settings.model_dump_json()
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == SECRET


def test_secret_files_are_read_at_startup_and_masked(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(SECRET + "\n")
    (tmp_path / "key").write_text(KEY)
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="cxpulse",
        kafka_sasl_password_file=tmp_path / "password",
        pseudonymise_customer_ids=True,
        pseudonym_key_file=str(tmp_path / "key"),
    )
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == SECRET
    assert settings.pseudonym_key is not None
    assert settings.pseudonym_key.get_secret_value() == KEY
    assert SECRET not in repr(settings)
    assert KEY not in repr(settings)


def test_help_shows_no_secret_even_when_its_env_var_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CXPULSE_KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("CXPULSE_PSEUDONYM_KEY", KEY)
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    text = parser.format_help()
    assert "CXPULSE_KAFKA_SASL_PASSWORD" in text
    assert SECRET not in text
    assert KEY not in text


def test_secret_file_flag_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(SECRET)
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    args = parser.parse_args(
        [
            "--kafka-security-protocol=SASL_PLAINTEXT",
            "--kafka-sasl-username=cxpulse",
            f"--kafka-sasl-password-file={tmp_path / 'password'}",
        ]
    )
    settings = settings_from_args(args)
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == SECRET


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_KAFKA_SSL_CAFILE", "")
    monkeypatch.setenv("CXPULSE_KAFKA_SASL_PASSWORD", "")
    settings = Settings()
    assert settings.kafka_ssl_cafile is None
    assert settings.kafka_sasl_password is None


def _inconsistent(tmp_path: Path, case: str) -> dict[str, Any]:
    missing = tmp_path / "missing"
    (tmp_path / "empty").write_text("\n")
    return {
        "SASL without user": {**SASL, "kafka_sasl_username": None},
        "SASL without password": {**SASL, "kafka_sasl_password": None},
        "login without SASL": {**SASL, "kafka_security_protocol": "PLAINTEXT"},
        "TLS files without TLS": {
            **SASL,
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_ssl_cafile": str(tmp_path / "empty"),
        },
        "unreadable CA file": {**SASL, "kafka_ssl_cafile": str(missing)},
        "key without certificate": {**SASL, "kafka_ssl_keyfile": str(tmp_path / "empty")},
        "unreadable password file": {
            **SASL,
            "kafka_sasl_password": None,
            "kafka_sasl_password_file": str(missing),
        },
        "empty password file": {
            **SASL,
            "kafka_sasl_password": None,
            "kafka_sasl_password_file": str(tmp_path / "empty"),
        },
        "password and password file": {
            **SASL,
            "kafka_sasl_password_file": str(tmp_path / "empty"),
        },
        "pseudonyms without key": {**SASL, "pseudonymise_customer_ids": True},
        "short pseudonym key": {**SASL, "pseudonym_key": "short"},
        "unreadable key file": {**SASL, "pseudonym_key_file": str(missing)},
        "invalid extra pattern": {**SASL, "redact_extra_patterns": "ok,(unclosed"},
    }[case]


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("SASL without user", "needs CXPULSE_KAFKA_SASL_USERNAME"),
        ("SASL without password", "CXPULSE_KAFKA_SASL_PASSWORD_FILE"),
        ("login without SASL", "PLAINTEXT does not log in"),
        ("TLS files without TLS", "does not use TLS"),
        ("unreadable CA file", "cannot read CXPULSE_KAFKA_SSL_CAFILE"),
        ("key without certificate", "CXPULSE_KAFKA_SSL_KEYFILE needs CXPULSE_KAFKA_SSL_CERTFILE"),
        ("unreadable password file", "cannot read CXPULSE_KAFKA_SASL_PASSWORD_FILE"),
        ("empty password file", "is empty"),
        ("password and password file", "not both"),
        ("pseudonyms without key", "needs CXPULSE_PSEUDONYM_KEY"),
        ("short pseudonym key", "at least 16 bytes"),
        ("unreadable key file", "cannot read CXPULSE_PSEUDONYM_KEY_FILE"),
        ("invalid extra pattern", "'(unclosed'"),
    ],
)
def test_inconsistent_settings_are_refused_clearly_without_the_secret(
    tmp_path: Path, case: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**_inconsistent(tmp_path, case))
    assert words in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        ("ORD-\\d+,VIP", ("ORD-\\d+", "VIP")),
        ("\\d{2,4}, x", ("\\d{2,4}", "x")),
        ("[,;]+,(a|b,c)", ("[,;]+", "(a|b,c)")),
        ("a\\,b", ("a\\,b",)),
        (" , a ,, ", ("a",)),
    ],
)
def test_extra_patterns_split_at_top_level_commas(text: str, patterns: tuple[str, ...]) -> None:
    assert split_patterns(text) == patterns
    assert Settings(redact_extra_patterns=text).redact_extra_patterns == patterns


# --- client options ------------------------------------------------------------------------


def test_plaintext_needs_no_options() -> None:
    settings = Settings()
    assert aiokafka_security_kwargs(settings) == {"security_protocol": "PLAINTEXT"}
    assert faust_broker_kwargs(settings) == {}


@pytest.mark.parametrize(
    ("protocol", "tls", "sasl"),
    [("SSL", True, False), ("SASL_PLAINTEXT", False, True), ("SASL_SSL", True, True)],
)
def test_aiokafka_options_follow_the_protocol(protocol: str, tls: bool, sasl: bool) -> None:
    login = {k: v for k, v in SASL.items() if k != "kafka_security_protocol"} if sasl else {}
    settings = Settings(
        kafka_security_protocol=protocol, kafka_sasl_mechanism="SCRAM-SHA-256", **login
    )
    kwargs = aiokafka_security_kwargs(settings)
    assert kwargs["security_protocol"] == protocol
    assert isinstance(kwargs.get("ssl_context"), ssl.SSLContext) is tls
    if sasl:
        assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
        assert kwargs["sasl_plain_username"] == "cxpulse"
        assert kwargs["sasl_plain_password"] == SECRET
    else:
        assert "sasl_mechanism" not in kwargs


@pytest.mark.parametrize("protocol", ["SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_faust_credentials_give_faust_the_same_client_options(protocol: str) -> None:
    login = {k: v for k, v in SASL.items() if k != "kafka_security_protocol"}
    settings = Settings(
        kafka_security_protocol=protocol, **(login if protocol.startswith("SASL") else {})
    )
    credentials = faust_broker_kwargs(settings)["broker_credentials"]
    assert isinstance(credentials, SASLCredentials if "SASL" in protocol else SSLCredentials)
    through_faust = credentials_to_aiokafka_auth(credentials)
    direct = aiokafka_security_kwargs(settings)
    assert set(through_faust) >= set(direct)
    for name, value in direct.items():
        if name == "ssl_context":
            assert isinstance(through_faust[name], ssl.SSLContext)
        else:
            assert through_faust[name] == value, name
    assert SECRET not in repr(credentials)


@pytest.mark.parametrize("check", [True, False])
def test_tls_context_verifies_certificates_and_honours_check_hostname(
    pki: Pki, check: bool
) -> None:
    settings = Settings(
        kafka_security_protocol="SSL", kafka_ssl_cafile=pki.ca, kafka_ssl_check_hostname=check
    )
    context = aiokafka_security_kwargs(settings)["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is check
    subjects = [dict(item[0] for item in ca["subject"]) for ca in context.get_ca_certs()]
    assert {"commonName": "cxpulse-test-ca"} in subjects


def test_a_ca_file_that_is_not_pem_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "ca.pem")
    with pytest.raises(KafkaAccessError, match="CXPULSE_KAFKA_SSL_CAFILE"):
        aiokafka_security_kwargs(settings)


@pytest.mark.parametrize(("password", "loads"), [("right", True), ("wrong", False), (None, False)])
def test_encrypted_client_key_needs_its_password_and_never_prompts(
    pki: Pki, password: str | None, loads: bool
) -> None:
    key_password = {"right": pki.client_key_password, "wrong": "nope", None: None}[password]
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_certfile=pki.client_cert,
        kafka_ssl_keyfile=pki.client_key,
        kafka_ssl_key_password=key_password,
    )
    if loads:
        assert isinstance(aiokafka_security_kwargs(settings)["ssl_context"], ssl.SSLContext)
    else:
        with pytest.raises(KafkaAccessError, match="CXPULSE_KAFKA_SSL_KEY_PASSWORD"):
            aiokafka_security_kwargs(settings)


# --- failures in one sentence --------------------------------------------------------------


def _caused_by(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def _cert_error(message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = message
    return error


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (SaslAuthenticationFailed("invalid credentials"), "SASL authentication failed"),
        (
            _caused_by(KafkaConnectionError("closed"), SaslAuthenticationFailed("x")),
            "rejected user 'cxpulse'",
        ),
        (UnsupportedMechanism("no"), "CXPULSE_KAFKA_SASL_MECHANISM"),
        (_cert_error("self-signed certificate in certificate chain"), "SSL verify failed"),
        (_cert_error("self-signed certificate"), "CXPULSE_KAFKA_SSL_CAFILE"),
        (
            _cert_error("Hostname mismatch, certificate is not valid for 'kafka'"),
            "CXPULSE_KAFKA_SSL_CHECK_HOSTNAME",
        ),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS handshake"),
        (ConnectionRefusedError(111, "refused"), "nothing accepts connections"),
        (TimeoutError(), "did not answer within 5 s"),
        (KafkaConnectionError("Connection at x closed"), "closed the connection"),
        (RuntimeError("boom"), "RuntimeError: boom"),
    ],
)
def test_failures_become_one_sentence_naming_what_to_check(
    error: BaseException, words: str
) -> None:
    settings = Settings(**{**SASL, "kafka_sasl_mechanism": "SCRAM-SHA-256"})
    sentence = explain_failure(error, settings, "127.0.0.1:9093", timeout_s=5)
    assert words in sentence
    assert "127.0.0.1:9093" in sentence
    assert "\n" not in sentence
    assert SECRET not in sentence


async def _probe_with_server(
    settings: Settings, handler: Any, port: int, timeout_s: float
) -> KafkaAccessError:
    server = await asyncio.start_server(handler, "127.0.0.1", port)
    try:
        with pytest.raises(KafkaAccessError) as caught:
            await check_broker_access(settings, timeout_s=timeout_s)
        return caught.value
    finally:
        server.close()
        await server.wait_closed()


async def _hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def _stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()
    writer.close()


def test_probe_reports_a_listener_that_hangs_up() -> None:
    port = free_port()
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{port}")
    error = asyncio.run(_probe_with_server(settings, _hang_up, port, timeout_s=5))
    assert "closed the connection" in str(error)
    assert "CXPULSE_KAFKA_SECURITY_PROTOCOL (now PLAINTEXT)" in str(error)


def test_probe_reports_the_most_telling_failure_of_several_servers() -> None:
    closed, silent = free_port(), free_port()
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{closed},127.0.0.1:{silent}")
    error = asyncio.run(_probe_with_server(settings, _stay_silent, silent, timeout_s=0.5))
    assert str(error).startswith(f"Kafka at 127.0.0.1:{silent} did not answer within 0.5 s")


def test_probe_reports_a_port_nobody_listens_on() -> None:
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    with pytest.raises(KafkaAccessError, match="nothing accepts connections"):
        asyncio.run(check_broker_access(settings, timeout_s=2))


@pytest.fixture
def conn_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("aiokafka.conn")
    before = list(logger.filters)
    yield logger
    logger.filters[:] = before


def test_sasl_payloads_are_kept_out_of_debug_logs(
    conn_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    hide_sasl_payloads_in_logs()
    hide_sasl_payloads_in_logs()
    payload = f"SaslAuthenticateRequest_v1(sasl_auth_bytes=b'\\x00cxpulse\\x00{SECRET}')"
    with caplog.at_level(logging.DEBUG, logger="aiokafka.conn"):
        conn_logger.debug("Request to %s:%d %d: %s", "127.0.0.1", 9093, 3, payload)
        conn_logger.debug("Request to %s:%d %d: %s", "127.0.0.1", 9093, 4, "MetadataRequest")
    assert SECRET not in caplog.text
    assert "MetadataRequest" in caplog.text
    assert sum(type(f).__name__ == "_HideSaslPayloads" for f in conn_logger.filters) == 1
