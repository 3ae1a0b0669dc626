"""Signatures and keys, checked against the vendors' published examples where they give one."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cxpulse.api import auth

# Twilio's own test vectors (twilio-python, tests/unit/test_request_validator.py).
TWILIO_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
TWILIO_FORM = (
    b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212"
    b"&Caller=%2B14158675309"
)
TWILIO_JSON = b'{"property": "value", "boolean": true}'
TWILIO_JSON_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"


def test_twilio_signature_matches_twilio_published_vector() -> None:
    assert (
        auth.twilio_signature(TWILIO_URL, TWILIO_PARAMS.items(), TWILIO_TOKEN)
        == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


def test_twilio_repeated_parameters_sort_by_value_too() -> None:
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert auth.twilio_signature(TWILIO_URL, params, TWILIO_TOKEN) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_twilio_form_request_is_valid_and_any_change_breaks_it() -> None:
    form = "application/x-www-form-urlencoded"
    good = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert auth.twilio_valid(TWILIO_URL, TWILIO_FORM, form, good, TWILIO_TOKEN)
    assert not auth.twilio_valid(TWILIO_URL, TWILIO_FORM + b"&x=1", form, good, TWILIO_TOKEN)
    assert not auth.twilio_valid(TWILIO_URL + "&z=1", TWILIO_FORM, form, good, TWILIO_TOKEN)
    assert not auth.twilio_valid(TWILIO_URL, TWILIO_FORM, form, good, "54321")
    assert not auth.twilio_valid(TWILIO_URL, TWILIO_FORM, form, None, TWILIO_TOKEN)
    assert not auth.twilio_valid(TWILIO_URL, TWILIO_FORM, form, "", TWILIO_TOKEN)


def test_twilio_json_body_is_signed_through_body_sha256() -> None:
    url = f"{TWILIO_URL}&bodySHA256={TWILIO_JSON_HASH}"
    signature = "a9nBmqA0ju/hNViExpshrM61xv4="  # Twilio's published vector
    assert hashlib.sha256(TWILIO_JSON).hexdigest() == TWILIO_JSON_HASH
    assert auth.twilio_valid(url, TWILIO_JSON, "application/json", signature, TWILIO_TOKEN)
    tampered = TWILIO_JSON.replace(b"value", b"other")
    assert not auth.twilio_valid(url, tampered, "application/json", signature, TWILIO_TOKEN)
    assert not auth.twilio_valid(TWILIO_URL, TWILIO_JSON, "application/json", signature, "12345")


@given(st.binary(max_size=200), st.text(max_size=40))
def test_twilio_check_never_raises(body: bytes, signature: str) -> None:
    for content_type in ("application/x-www-form-urlencoded", "application/json"):
        assert not auth.twilio_valid(TWILIO_URL, body, content_type, signature, TWILIO_TOKEN)


# Zendesk documents base64(HMAC-SHA256(secret, timestamp + body)).
ZENDESK_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
ZENDESK_BODY = b'{"say": "hello"}'
ZENDESK_TS = "2021-07-25T10:00:00Z"
ZENDESK_NOW = datetime(2021, 7, 25, 10, 2, tzinfo=UTC)


def _zendesk(body: bytes = ZENDESK_BODY, **overrides: object) -> str | None:
    arguments: dict[str, object] = {
        "signature": auth.zendesk_signature(ZENDESK_TS, ZENDESK_BODY, ZENDESK_SECRET),
        "timestamp": ZENDESK_TS,
        "secret": ZENDESK_SECRET,
        "now": ZENDESK_NOW,
        "max_age_s": 300.0,
        **overrides,
    }
    return auth.zendesk_check(body, **arguments)  # type: ignore[arg-type]


def test_zendesk_signature_is_hmac_sha256_of_timestamp_then_body() -> None:
    expected = base64.b64encode(
        hmac.new(ZENDESK_SECRET.encode(), ZENDESK_TS.encode() + ZENDESK_BODY, "sha256").digest()
    ).decode()
    assert auth.zendesk_signature(ZENDESK_TS, ZENDESK_BODY, ZENDESK_SECRET) == expected
    assert _zendesk() is None


def test_zendesk_refuses_tampered_unsigned_stale_and_future() -> None:
    assert "does not match" in str(_zendesk(ZENDESK_BODY + b" "))
    assert "does not match" in str(_zendesk(secret="another secret"))
    assert "carries no" in str(_zendesk(signature=None))
    assert "carries no" in str(_zendesk(timestamp=""))
    assert "not an ISO 8601" in str(_zendesk(timestamp="yesterday"))
    assert "beyond 300 s" in str(_zendesk(now=ZENDESK_NOW + timedelta(minutes=4)))
    assert "beyond 300 s" in str(_zendesk(now=ZENDESK_NOW - timedelta(minutes=8)))


def test_api_keys_match_by_digest_only() -> None:
    digests = [auth.key_digest("first"), auth.key_digest("second")]
    assert auth.match_api_key("second", digests) == 1
    assert auth.match_api_key("first", digests) == 0
    assert auth.match_api_key("third", digests) is None
    assert auth.match_api_key(None, digests) is None
    assert auth.match_api_key("", digests) is None
    assert auth.match_api_key("first", []) is None


def test_bearer_token() -> None:
    assert auth.bearer_token("Bearer abc") == "abc"
    assert auth.bearer_token("bearer  abc ") == "abc"
    assert auth.bearer_token("Basic abc") is None
    assert auth.bearer_token("Bearer ") is None
    assert auth.bearer_token(None) is None


def test_same_secret() -> None:
    assert auth.same_secret("k3y", "k3y")
    assert not auth.same_secret("k3y ", "k3y")
    assert not auth.same_secret(None, "k3y")
    assert not auth.same_secret("ключ", "k3y")
