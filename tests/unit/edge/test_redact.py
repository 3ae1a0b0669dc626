from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cxpulse.config.settings import Settings
from cxpulse.edge.redact import (
    PSEUDONYM_PREFIX,
    Redactor,
    luhn_valid,
    pseudonymise,
    redact,
)
from cxpulse.schemas.outputs import Alert, EntityType, Severity

KEY = b"k" * 32


def check_digit(payload: str) -> str:
    """The Luhn check digit, computed the textbook way (double every second from the right)."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        doubled = int(char) * 2 if position % 2 == 0 else int(char)
        total += sum(divmod(doubled, 10))
    return str(-total % 10)


def nir_key(body: str) -> str:
    return f"{97 - int(body.replace('2A', '19').replace('2B', '18')) % 97:02d}"


@pytest.mark.parametrize(
    "number", ["4111111111111111", "378282246310005", "5555555555554444", "6011111111111117"]
)
def test_luhn_accepts_published_test_card_numbers(number: str) -> None:
    assert luhn_valid(number)
    assert check_digit(number[:-1]) == number[-1]


@pytest.mark.parametrize("number", ["4111111111111112", "378282246310006", "1234567812345678"])
def test_luhn_rejects_altered_numbers(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 exp 12/26", "card [card] exp 12/26"),
        ("card 4111-1111-1111-1111.", "card [card]."),
        ("paid with 4111111111111111", "paid with [card]"),
        ("amex 3782 822463 10005 ok", "amex [card] ok"),
        ("cc4111111111111111", "cc[card]"),
        ("4111 1111 1111 1111 2026", "[card] 2026"),
        ("mail John.Smith+cx@example.co.uk now", "mail [email] now"),
        ("<jo@例え.jp>", "<[email]>"),
        ("ssn 123-45-6789", "ssn [national-id]"),
        ("ssn 123 45 6789", "ssn [national-id]"),
        ("NI AB 12 34 56 C", "NI [national-id]"),
        ("ni ab123456c", "ni [national-id]"),
        ("DNI 12345678Z", "DNI [national-id]"),
        ("NIE X1234567L", "NIE [national-id]"),
        ("CF RSSMRA85T10A562S", "CF [national-id]"),
        (f"NIR 1 84 12 76 451 089 {nir_key('1841276451089')}", "NIR [national-id]"),
        (f"NIR 2690549588157{nir_key('2690549588157')}", "NIR [national-id]"),
        (f"NIR 184022A123456{nir_key('184022A123456')}", "NIR [national-id]"),
        ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "IBAN [iban] thanks"),
        ("to DE89370400440532013000.", "to [iban]."),
        ("call +44 20 7946 0958", "call [phone]"),
        ("call +1 (555) 123-4567", "call [phone]"),
        ("call 0044 20 7946 0958", "call [phone]"),
        ("call +33612345678", "call [phone]"),
        ("uk 020 7946 0958 or 07700 900123", "uk [phone] or [phone]"),
        ("fr 06 12 34 56 78 or 06.12.34.56.78", "fr [phone] or [phone]"),
        ("de 030 12345678", "de [phone]"),
        ("us (555) 123-4567, 555.123.4567", "us [phone], [phone]"),
        ("us 5551234567 or 555-1234", "us [phone] or [phone]"),
        ("es 612 345 678 or 912 34 56 78", "es [phone] or [phone]"),
        ("two: 555-123-4567,555-987-6543", "two: [phone],[phone]"),
    ],
)
def test_personal_data_becomes_a_typed_placeholder(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the customer waited 3 days",
        "order 12345 shipped",
        "ticket #987654 reopened",
        "scored 0.6123456789 after 12 calls",
        "at 2024-05-01T10:30:00Z and 2024-05-01 10:30",
        "on 01.02.2024 10:30 or 01/02/2024",
        "epoch 1718031234 ms 1718031234567",
        "range 100-200, version 1.2.3, 1,234,567 items",
        "invalid card 4111111111111112",
        "never-issued SSN 000-12-3456 and 666-12-3456",
        "wrong DNI letter 12345678A",
        "IBAN with a bad check GB00 WEST 1234 5698 7654 32",
        "user@localhost is not an address",
        "consistency 42/100 for queue q-billing (n=57)",
    ],
)
def test_ordinary_text_and_numbers_stay(text: str) -> None:
    assert redact(text) == text


def test_extra_patterns_apply_after_the_built_in_ones() -> None:
    extra = [re.compile(r"ORD-\d+"), re.compile(r"(?i)\bsmith\b")]
    assert redact("ORD-77 for Smith, smith@example.com", extra) == (
        "[redacted] for [redacted], [email]"
    )


def luhn_numbers() -> st.SearchStrategy[str]:
    return (
        st.integers(13, 19)
        .flatmap(lambda length: st.text("0123456789", min_size=length - 1, max_size=length - 1))
        .map(lambda payload: payload + check_digit(payload))
    )


@st.composite
def printed(draw: st.DrawFn, digits: str) -> str:
    """A card number as people write it: plain, or in groups joined by spaces or dashes."""
    separator = draw(st.sampled_from(["", " ", "-"]))
    if not separator:
        return digits
    groups, rest = [], digits
    while rest:
        size = draw(st.integers(3, 6))
        groups.append(rest[:size])
        rest = rest[size:]
    return separator.join(groups)


def without_separators(text: str) -> str:
    return re.sub(r"[ -]", "", text)


@given(digits=luhn_numbers(), data=st.data(), before=st.text(), after=st.text())
def test_no_luhn_valid_card_number_gets_through(
    digits: str, data: st.DataObject, before: str, after: str
) -> None:
    assume(digits not in without_separators(before) and digits not in without_separators(after))
    text = f"{before} {data.draw(printed(digits))} {after}"
    assert digits not in without_separators(redact(text))


@given(address=st.emails(), before=st.text(), after=st.text())
def test_no_email_address_gets_through(address: str, before: str, after: str) -> None:
    assume(address not in before and address not in after)
    assert address not in redact(f"{before} {address} {after}")


NUMBERISH = st.text(alphabet="0123456789 -.+()@/:,ABCDEFXZabcz_", max_size=80)


@given(text=st.one_of(st.text(), NUMBERISH))
def test_redaction_is_idempotent_and_never_fails(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@given(text=st.text(alphabet="0123456789 -.", min_size=200, max_size=2_000))
def test_long_digit_runs_are_handled(text: str) -> None:
    redacted = redact(text)
    assert redact(redacted) == redacted


@given(customer_id=st.text(min_size=1), other=st.text(min_size=1))
def test_pseudonyms_are_stable_short_and_distinct(customer_id: str, other: str) -> None:
    assume(customer_id != other)
    pseudonym = pseudonymise(customer_id, KEY)
    assert pseudonym == pseudonymise(customer_id, KEY)
    assert re.fullmatch(re.escape(PSEUDONYM_PREFIX) + "[0-9a-f]{20}", pseudonym)
    assert pseudonym != pseudonymise(other, KEY)


@given(customer_id=st.text(min_size=1), key=st.binary(min_size=16), other=st.binary(min_size=16))
def test_pseudonyms_depend_on_the_key(customer_id: str, key: bytes, other: bytes) -> None:
    assume(key != other)
    assert pseudonymise(customer_id, key) != pseudonymise(customer_id, other)


def test_redactor_from_settings_applies_extra_patterns_and_pseudonyms() -> None:
    settings = Settings(
        redact_extra_patterns="ORD-\\d{2,4},VIP",
        pseudonymise_customer_ids=True,
        pseudonym_key="p" * 20,
    )
    redactor = Redactor.from_settings(settings)
    assert redactor.text("ORD-123 VIP a@b.io") == "[redacted] [redacted] [email]"
    assert redactor.customer_id("c-1") == pseudonymise("c-1", b"p" * 20)
    assert "p" * 20 not in repr(redactor)


def test_redactor_keeps_customer_ids_when_pseudonymisation_is_off() -> None:
    redactor = Redactor.from_settings(Settings(pseudonym_key="p" * 20))
    assert redactor.customer_id("c-1") == "c-1"


def _alert(entity_type: EntityType, entity_id: str, reason: str) -> Alert:
    return Alert(
        alert_id="a1",
        kind="jeopardy",
        severity=Severity.CRITICAL,
        entity_type=entity_type,
        entity_id=entity_id,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        reason=reason,
    )


def test_alerts_leave_with_pseudonymised_customer_and_redacted_reason() -> None:
    redactor = Redactor.from_settings(
        Settings(pseudonymise_customer_ids=True, pseudonym_key="k" * 20)
    )
    alert = _alert(EntityType.CUSTOMER, "cust-7", "Customer cust-7 wrote from ann@example.com")
    out = redactor.alert(alert)
    pseudonym = pseudonymise("cust-7", b"k" * 20)
    assert out.entity_id == pseudonym
    assert out.reason == f"Customer {pseudonym} wrote from [email]"
    assert "cust-7" not in out.to_json().decode()


def test_agent_alerts_keep_their_ids() -> None:
    redactor = Redactor.from_settings(
        Settings(pseudonymise_customer_ids=True, pseudonym_key="k" * 20)
    )
    out = redactor.alert(_alert(EntityType.AGENT, "agent-3", "Agent agent-3 became erratic"))
    assert (out.entity_id, out.reason) == ("agent-3", "Agent agent-3 became erratic")
