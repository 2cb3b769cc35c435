"""What a message body may contain, the same on SQLite and PostgreSQL."""

import pytest

from messaging.actions.memberships import add_member
from messaging.actions.messages import post_message
from messaging.actions.rooms import join_room
from messaging.errors import BadRequest
from messaging.models import ChatMessage

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body",
    [
        "\u200b",  # zero-width space
        "\u200b \u200c\u200d\ufeff",  # zero-width (non-)joiners, BOM
        "\u2066\u2069\u200e",  # direction isolates and marks
        " \n\t ",
    ],
)
def test_a_body_that_shows_nothing_is_refused(room, alice, body):
    with pytest.raises(BadRequest, match="empty"):
        post_message(author=alice, room_id=room.id, body=body, client_id="c1")
    assert ChatMessage.objects.count() == 0


@pytest.mark.parametrize("body", ["nul \x00 inside", "bell \x07", "escape \x1b[31m red", "c1 \x85 control"])
def test_control_characters_are_refused(room, alice, body):
    with pytest.raises(BadRequest, match="control characters"):
        post_message(author=alice, room_id=room.id, body=body, client_id="c1")
    assert ChatMessage.objects.count() == 0


def test_text_with_lines_tabs_emoji_and_joiners_is_kept(room, alice):
    body = "line one\r\nline\ttwo\n👩\u200d💻 ok"
    posted = post_message(author=alice, room_id=room.id, body=body, client_id="c1")
    assert posted.message.body == "line one\nline\ttwo\n👩\u200d💻 ok"
    assert ChatMessage.objects.get().body == posted.message.body


def test_a_username_with_non_ascii_capitals_can_be_mentioned(room, alice, make_user):
    emile = make_user("Émile")
    join_room(user=emile, room=room)
    posted = post_message(author=alice, room_id=room.id, body="@émile, bienvenue", client_id="c1")
    assert posted.mentioned_user_ids == [emile.id]
    assert posted.mentions == ["Émile"]


def test_a_member_is_added_by_a_username_in_any_case(room, alice, make_user):
    emile = make_user("Émile")
    add_member(actor=alice, room=room, username=" éMILE ")
    assert room.memberships.filter(user=emile).exists()
