"""Kafka client security from settings: TLS context, SASL login, and failures in one sentence.

Every Kafka client of cxpulse takes its security options from here: aiokafka clients (admin,
consumer, producer) through ``aiokafka_security_kwargs`` and the faust app through
``faust_broker_kwargs``.  ``check_broker_access`` opens one authenticated connection before
a command starts its real clients, because aiokafka's bootstrap reports every failure as
"Unable to bootstrap" and faust retries forever: a wrong password or an untrusted
certificate must end the command with a sentence an operator can act on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from cxpulse.config.settings import ENV_PREFIX, Settings

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})

# How much a failure says about the configuration: with several bootstrap servers, the most
# telling one is reported (a rejected password beats a server that is down).
_SAYS_LITTLE, _SAYS_SOME, _SAYS_MUCH = 0, 1, 2


class KafkaAccessError(RuntimeError):
    """Kafka could not be reached or refused this client; the message is one sentence."""


def _env(field: str) -> str:
    return ENV_PREFIX + field.upper()


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The client TLS context for SSL / SASL_SSL, ``None`` for the plaintext protocols."""
    if settings.kafka_security_protocol not in TLS_PROTOCOLS:
        return None
    cafile = settings.kafka_ssl_cafile
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        raise KafkaAccessError(
            f"cannot load the CA certificates of {_env('kafka_ssl_cafile')}={cafile}: {exc}"
        ) from None
    if settings.kafka_ssl_certfile is not None:
        key_password = settings.kafka_ssl_key_password
        try:
            # An empty password instead of None: OpenSSL would otherwise prompt on the terminal.
            context.load_cert_chain(
                settings.kafka_ssl_certfile,
                settings.kafka_ssl_keyfile,
                password=key_password.get_secret_value() if key_password else "",
            )
        except (ssl.SSLError, OSError) as exc:
            raise KafkaAccessError(
                f"cannot load the client certificate {_env('kafka_ssl_certfile')} / "
                f"{_env('kafka_ssl_keyfile')} (not PEM, key not matching, or wrong "
                f"{_env('kafka_ssl_key_password')}): {exc}"
            ) from None
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def aiokafka_security_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer`` / ``AIOKafkaConsumer`` / admin client."""
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if protocol in SASL_PROTOCOLS:
        password = settings.kafka_sasl_password
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = password.get_secret_value() if password else None
    return kwargs


def faust_broker_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``faust.App``: ``broker_credentials``, or nothing for PLAINTEXT.

    faust's aiokafka driver turns the credentials into the same security_protocol /
    ssl_context / sasl_* options for its consumer, producers and topic creation.
    """
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    context = ssl_context(settings)
    if protocol == "SSL":
        return {"broker_credentials": faust.SSLCredentials(context)}
    password = settings.kafka_sasl_password
    return {
        "broker_credentials": faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    }


class _HideSaslPayloads(logging.Filter):
    """aiokafka logs each request at DEBUG, SASL ones too: with PLAIN, that is the password."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG or "sasl_auth_bytes" not in record.getMessage()


def hide_sasl_payloads_in_logs() -> None:
    """Drop aiokafka's DEBUG lines that carry SASL payloads (idempotent; call at startup)."""
    logger = logging.getLogger("aiokafka.conn")
    if not any(isinstance(existing, _HideSaslPayloads) for existing in logger.filters):
        logger.addFilter(_HideSaslPayloads())


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def explain_failure(exc: BaseException, settings: Settings, where: str, timeout_s: float) -> str:
    """One sentence naming what went wrong with Kafka at ``where`` and which setting to check."""
    return _classify(exc, settings, where, timeout_s)[1]


def _classify(
    exc: BaseException, settings: Settings, where: str, timeout_s: float
) -> tuple[int, str]:
    protocol = settings.kafka_security_protocol
    protocol_hint = f"check {_env('kafka_security_protocol')} (now {protocol})"
    mechanism = settings.kafka_sasl_mechanism
    for error in _causes(exc):
        if isinstance(error, SaslAuthenticationFailed | AuthenticationFailedError):
            return _SAYS_MUCH, (
                f"SASL authentication failed: Kafka at {where} rejected user "
                f"{settings.kafka_sasl_username!r} with {mechanism}; check "
                f"{_env('kafka_sasl_username')} and {_env('kafka_sasl_password')} "
                f"(or {_env('kafka_sasl_password_file')})"
            )
        if isinstance(error, UnsupportedSaslMechanismError):
            return _SAYS_MUCH, (
                f"SASL mechanism {mechanism} is not enabled on Kafka at {where}; "
                f"set {_env('kafka_sasl_mechanism')} to one it enables"
            )
        if isinstance(error, IllegalSaslStateError):
            return _SAYS_MUCH, (
                f"Kafka at {where} does not expect a SASL login on this listener; {protocol_hint}"
            )
        if isinstance(error, ssl.SSLCertVerificationError):
            return _SAYS_MUCH, _certificate_problem(error, where)
        if isinstance(error, ssl.SSLError):
            reason = getattr(error, "reason", None) or error
            return _SAYS_SOME, (
                f"TLS handshake with Kafka at {where} failed ({reason}): the "
                f"listener may not speak TLS or may require a client certificate "
                f"({_env('kafka_ssl_certfile')}); {protocol_hint}"
            )
        if isinstance(error, ConnectionRefusedError):
            return _SAYS_LITTLE, (
                f"nothing accepts connections at {where}: check "
                f"{_env('kafka_bootstrap')} and that Kafka runs"
            )
        if isinstance(error, socket.gaierror):
            return _SAYS_LITTLE, (
                f"cannot resolve the Kafka host of {where}: check {_env('kafka_bootstrap')}"
            )
    if isinstance(exc, TimeoutError):
        return _SAYS_SOME, (
            f"Kafka at {where} did not answer within {timeout_s:g} s: a TLS listener stays "
            f"silent to a plaintext client; {protocol_hint}"
        )
    if isinstance(exc, KafkaConnectionError | ConnectionError):
        return _SAYS_SOME, (
            f"Kafka at {where} closed the connection during the handshake, as a listener "
            f"that expects another security protocol does; {protocol_hint}"
        )
    return _SAYS_LITTLE, f"cannot use Kafka at {where}: {type(exc).__name__}: {exc}"


def _certificate_problem(error: ssl.SSLCertVerificationError, where: str) -> str:
    reason = error.verify_message or str(error)
    if "mismatch" in reason.lower():
        return (
            f"SSL verify failed: the certificate of Kafka at {where} does not name that host "
            f"({reason}); connect with a name it lists in {_env('kafka_bootstrap')} or set "
            f"{_env('kafka_ssl_check_hostname')}=false"
        )
    return (
        f"SSL verify failed: the certificate of Kafka at {where} is not trusted ({reason}); "
        f"set {_env('kafka_ssl_cafile')} to the CA that signed it"
    )


async def _open_session(host: str, port: int, timeout_s: float, kwargs: dict[str, Any]) -> None:
    """Connect, log in and ask for metadata: a listener that wants SASL closes on that."""
    conn = await create_conn(host, port, request_timeout_ms=int(timeout_s * 1000), **kwargs)
    try:
        await conn.send(MetadataRequest([]))
    finally:
        conn.close()


async def check_broker_access(settings: Settings, timeout_s: float = 15.0) -> None:
    """Connect and log in to one bootstrap server, or raise ``KafkaAccessError``.

    Servers are tried in order; with none usable, the most telling failure is reported.
    """
    kwargs = aiokafka_security_kwargs(settings)
    failures: list[tuple[int, str]] = []
    for host, port, _family in collect_hosts(settings.kafka_bootstrap, randomize=False):
        where = f"{host}:{port}"
        try:
            await asyncio.wait_for(_open_session(host, port, timeout_s, kwargs), timeout_s)
        except Exception as exc:  # whatever it is, the operator gets it as a sentence
            failures.append(_classify(exc, settings, where, timeout_s))
            continue
        return
    if not failures:
        raise KafkaAccessError(f"no Kafka server in {_env('kafka_bootstrap')}")
    raise KafkaAccessError(max(failures, key=lambda failure: failure[0])[1])
