from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from cxpulse.adapters.base import AdapterError
from cxpulse.adapters.zendesk import adapt
from cxpulse.schemas.events import (
    Channel,
    ConversationNote,
    FeedbackReceived,
    InteractionConnected,
    InteractionEnded,
    InteractionHeld,
    InteractionStarted,
    InteractionTransferred,
    NoteAuthor,
    Outcome,
)

TICKET = "35436"
REQUESTER = "1500012345678"
AGENT = "1500098765432"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def test_a_new_ticket_starts_an_interaction(raw: Callable[[str], bytes]) -> None:
    (started,) = adapt(raw("zendesk_ticket_created.json"))

    assert isinstance(started, InteractionStarted)
    assert started.occurred_at == at("2024-05-21T08:12:03")
    assert (started.interaction_id, started.customer_id) == (TICKET, REQUESTER)
    assert (started.channel, started.queue_id, started.source) == (
        Channel.EMAIL,
        "360004511111",
        "zendesk",
    )


def test_the_first_assignee_connects_the_ticket(raw: Callable[[str], bytes]) -> None:
    (connected,) = adapt(raw("zendesk_agent_assignment_changed.json"))

    assert isinstance(connected, InteractionConnected)
    assert (connected.agent_id, connected.wait_seconds) == (AGENT, 3030)


def test_a_new_assignee_is_a_transfer(doc: Callable[[str], Any]) -> None:
    event = doc("zendesk_agent_assignment_changed.json")
    event["event"].update(previous=AGENT, current="1500011112222")

    (transferred,) = adapt(encode(event))

    assert isinstance(transferred, InteractionTransferred)
    assert transferred.to_agent_id == "1500011112222"


def test_a_move_to_another_group_is_a_transfer(raw: Callable[[str], bytes]) -> None:
    (transferred,) = adapt(raw("zendesk_group_assignment_changed.json"))

    assert isinstance(transferred, InteractionTransferred)
    assert transferred.to_queue_id == "360004522222"


def test_a_solved_ticket_is_resolved(raw: Callable[[str], bytes]) -> None:
    (ended,) = adapt(raw("zendesk_status_changed_solved.json"))

    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.occurred_at) == (Outcome.RESOLVED, at("2024-05-21T11:27:19"))


def test_a_ticket_ends_once_however_often_it_is_solved(doc: Callable[[str], Any]) -> None:
    solved = doc("zendesk_status_changed_solved.json")
    closed = json.loads(json.dumps(solved))
    closed.update(id="01HYA0000000000000000000ZZ", time="2024-05-25T11:27:19Z")
    closed["event"].update(current="CLOSED", previous="SOLVED")

    assert adapt(encode(solved))[0].event_id == adapt(encode(closed))[0].event_id


@pytest.mark.parametrize(("status", "kinds"), [("HOLD", [InteractionHeld]), ("PENDING", [])])
def test_other_statuses(doc: Callable[[str], Any], status: str, kinds: list[type]) -> None:
    event = doc("zendesk_status_changed_solved.json")
    event["event"]["current"] = status

    assert [type(e) for e in adapt(encode(event))] == kinds


def test_a_customer_comment_becomes_a_customer_note(raw: Callable[[str], bytes]) -> None:
    (note,) = adapt(raw("zendesk_comment_added.json"))

    assert isinstance(note, ConversationNote)
    assert note.author == NoteAuthor.CUSTOMER
    assert note.text.startswith("Thanks! I prefer the same model")


def test_a_staff_comment_becomes_an_agent_note(doc: Callable[[str], Any]) -> None:
    event = doc("zendesk_comment_added.json")
    event["event"]["comment"]["author"] = {"id": AGENT, "is_staff": True, "name": "Sam"}

    (note,) = adapt(encode(event))

    assert isinstance(note, ConversationNote)
    assert note.author == NoteAuthor.AGENT


def test_an_empty_comment_maps_to_nothing(doc: Callable[[str], Any]) -> None:
    event = doc("zendesk_comment_added.json")
    event["event"]["comment"]["body"] = "   "

    assert adapt(encode(event)) == []


@pytest.mark.parametrize(("score", "csat"), [("good", 5), ("bad", 1), ("4", 4)])
def test_a_satisfaction_rating_becomes_feedback(
    doc: Callable[[str], Any], score: str, csat: int
) -> None:
    rating = doc("zendesk_satisfaction_rating.json")
    rating["satisfaction_rating"]["score"] = score

    (feedback,) = adapt(encode(rating))

    assert isinstance(feedback, FeedbackReceived)
    assert (feedback.interaction_id, feedback.customer_id, feedback.csat) == (
        TICKET,
        REQUESTER,
        csat,
    )
    assert feedback.comment == "Replacement arrived in two days."


def test_an_unanswered_survey_maps_to_nothing(doc: Callable[[str], Any]) -> None:
    rating = doc("zendesk_satisfaction_rating.json")
    rating["satisfaction_rating"]["score"] = "offered"

    assert adapt(encode(rating)) == []


def test_event_types_without_a_mapping_map_to_nothing(doc: Callable[[str], Any]) -> None:
    event = doc("zendesk_ticket_created.json")
    event["type"] = "zen:event-type:ticket.priority_changed"

    assert adapt(encode(event)) == []


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda e: e.update(type="ticket.created"), "unsupported"),
        (lambda e: e.pop("detail"), "missing_field"),
        (lambda e: e["detail"].update(id=None), "missing_field"),
        (lambda e: e.update(time="21 May 2024"), "invalid_value"),
        (lambda e: e["detail"].update(via="web"), "invalid_shape"),
    ],
)
def test_malformed_events_are_rejected_with_a_reason(
    doc: Callable[[str], Any], edit: Callable[[dict[str, Any]], Any], reason: str
) -> None:
    event = doc("zendesk_ticket_created.json")
    edit(event)

    with pytest.raises(AdapterError) as caught:
        adapt(encode(event))

    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda r: r.update(score="meh"), "invalid_value"),
        (lambda r: r.update(score="9"), "invalid_value"),
        (lambda r: r.update(updated_at=None, created_at=None), "missing_field"),
    ],
)
def test_malformed_ratings_are_rejected_with_a_reason(
    doc: Callable[[str], Any], edit: Callable[[dict[str, Any]], Any], reason: str
) -> None:
    rating = doc("zendesk_satisfaction_rating.json")
    edit(rating["satisfaction_rating"])

    with pytest.raises(AdapterError) as caught:
        adapt(encode(rating))

    assert caught.value.reason == reason
