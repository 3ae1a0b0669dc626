"""Who may call: API keys of /v1/events and the lookups, and each platform's webhook signature.

Pure functions over bytes and strings; every comparison of a secret-derived value runs in
constant time (``hmac.compare_digest``).

* API keys are stored only as SHA-256 digests (``CXPULSE_API_KEYS_SHA256``): the presented
  key is hashed and compared with every configured digest, so neither the settings nor a
  timing measurement reveal a key.
* Twilio: ``X-Twilio-Signature`` is base64(HMAC-SHA1(auth token, URL + the POST parameters
  sorted by name, each name followed by its value)).  A JSON body is signed instead through
  a ``bodySHA256`` query parameter (hex SHA-256 of the body) and the URL alone.
* Zendesk: ``X-Zendesk-Webhook-Signature`` is base64(HMAC-SHA256(signing secret,
  timestamp + body)), with the timestamp of ``X-Zendesk-Webhook-Signature-Timestamp``;
  timestamps further than the allowed age from now are refused (replays).
* EventBridge API destinations and Genesys Cloud: a static key in a header of the
  operator's choice, compared with the configured secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

TWILIO_SIGNATURE = "X-Twilio-Signature"
ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def match_api_key(presented: str | None, digests: Sequence[bytes]) -> int | None:
    """The index of the configured digest ``presented`` hashes to, or None.

    Every digest is compared, whatever matched first, so the time taken does not depend on
    which key (if any) was presented.
    """
    if not presented:
        return None
    digest = key_digest(presented)
    found = None
    for index, expected in enumerate(digests):
        if hmac.compare_digest(digest, expected) and found is None:
            found = index
    return found


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def same_secret(presented: str | None, secret: str) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), secret.encode("utf-8"))


# --- Twilio ------------------------------------------------------------------------------


def twilio_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """What Twilio puts in ``X-Twilio-Signature`` for a POST of ``params`` to ``url``.

    Parameters are sorted by name, then value (a repeated name keeps all its values).
    """
    signed = url + "".join(name + value for name, value in sorted(params))
    mac = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def _form_params(body: bytes) -> list[tuple[str, str]] | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        return None


def twilio_valid(
    url: str, body: bytes, content_type: str, signature: str | None, auth_token: str
) -> bool:
    """Whether ``signature`` is Twilio's for this request.

    A form-encoded body is signed through its parameters; any other body (JSON) through a
    ``bodySHA256`` query parameter, which must then be the body's hex SHA-256.
    """
    if not signature:
        return False
    if content_type == "application/x-www-form-urlencoded":
        params = _form_params(body)
        if params is None:
            return False
        expected = twilio_signature(url, params, auth_token)
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    body_hash = query.get("bodySHA256")
    if body_hash is None or not hmac.compare_digest(
        hashlib.sha256(body).hexdigest().encode(), body_hash.encode("utf-8", "replace")
    ):
        return False
    expected = twilio_signature(url, [], auth_token)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


# --- Zendesk -----------------------------------------------------------------------------


def zendesk_signature(timestamp: str, body: bytes, secret: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def parse_zendesk_timestamp(text: str) -> datetime | None:
    """Zendesk's ISO 8601 UTC timestamp (``2021-07-25T10:00:00Z``); None if unreadable."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def zendesk_check(
    body: bytes,
    *,
    signature: str | None,
    timestamp: str | None,
    secret: str,
    now: datetime,
    max_age_s: float,
) -> str | None:
    """None if the request is Zendesk's and fresh, else why not (one sentence)."""
    if not signature or not timestamp:
        return f"the request carries no {ZENDESK_SIGNATURE} and {ZENDESK_TIMESTAMP}"
    signed_at = parse_zendesk_timestamp(timestamp)
    if signed_at is None:
        return f"{ZENDESK_TIMESTAMP} is not an ISO 8601 time"
    age = (now - signed_at).total_seconds()
    if abs(age) > max_age_s:
        return f"the signature timestamp is {age:.0f} s from now, beyond {max_age_s:.0f} s"
    expected = zendesk_signature(timestamp, body, secret)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "the signature does not match the body"
    return None
