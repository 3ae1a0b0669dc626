"""Secrets in settings: read from mounted files, masked before anything can print them.

Secrets come either inline (``CXPULSE_X``) or from a file (``CXPULSE_X_FILE``, e.g. a
Kubernetes or Docker secret mount).  Both end up as ``SecretStr``, whose ``repr``, ``str``
and JSON dump show ``**********``.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr


def read_secret_file(path: str | Path, env: str) -> SecretStr:
    """The file's text without its trailing line break; a clear ``ValueError`` otherwise.

    ``env`` names the setting in messages, e.g. ``CXPULSE_KAFKA_SASL_PASSWORD_FILE``.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot read {env}={path}: {reason}") from None
    secret = text.rstrip("\r\n")
    if not secret:
        raise ValueError(f"{env}={path} is empty")
    return SecretStr(secret)


def require_readable_file(path: Path, env: str) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot read {env}={path}: {exc.strerror}") from None


def mask_in_place(data: MutableMapping[str, Any], fields: Iterable[str]) -> None:
    """Wrap plain-text secrets of raw settings input in ``SecretStr``, in the same mapping.

    pydantic quotes the raw input mapping in the text of a model-level validation error;
    masking that very mapping keeps a rejected configuration from printing its password.
    """
    for field in fields:
        value = data.get(field)
        if isinstance(value, str | bytes):
            data[field] = SecretStr(value.decode() if isinstance(value, bytes) else value)


def _given(value: Any) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return value not in (None, "")


def resolve_secret_file(
    data: MutableMapping[str, Any], field: str, file_field: str, env_prefix: str
) -> None:
    """Set ``field`` from the file named by ``file_field`` in raw input (at most one given)."""
    path = data.get(file_field)
    if path in (None, ""):
        return
    env, file_env = env_prefix + field.upper(), env_prefix + file_field.upper()
    if _given(data.get(field)):
        raise ValueError(f"set {env} or {file_env}, not both")
    data[field] = read_secret_file(path, file_env)
