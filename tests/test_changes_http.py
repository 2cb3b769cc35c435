"""Messages that change, over HTTP: earlier versions, pins, the emoji catalogue, the room page's
state and the room settings page its managers use."""

import gzip
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging.actions.changes import add_reaction, delete_message, edit_message, set_pinned
from messaging.actions.messages import post_message
from messaging.actions.rooms import MAX_WINDOW_MINUTES, create_room, update_room_policy
from messaging.emoji import emoji_catalogue
from messaging.errors import BadRequest, NotMember, PermissionDenied, TooLate
from messaging.models import ChatMessage, ChatRoom

pytestmark = pytest.mark.django_db


def post(room, author, body, client_id):
    return post_message(author=author, room_id=room.id, body=body, client_id=client_id).message


def versions_url(room, seq):
    return reverse("message_versions", args=[room.slug, seq])


@pytest.fixture
def edited(room, bob):
    """Bob's message 1, written as "first", edited to "second" and then "third"."""
    post(room, bob, "first", "m1")
    edit_message(user=bob, room_id=room.id, seq=1, body="second", client_id="e1")
    edit_message(user=bob, room_id=room.id, seq=1, body="third", client_id="e2")
    return ChatMessage.objects.get(room=room, seq=1)


@pytest.fixture
def private(alice, bob):
    room = create_room(creator=alice, name="staff", is_private=True)
    from messaging.actions.memberships import add_member

    add_member(actor=alice, room=room, username="bob")
    post(room, bob, "secret", "p1")
    edit_message(user=bob, room_id=room.id, seq=1, body="secret, edited", client_id="pe1")
    set_pinned(user=bob, room_id=room.id, seq=1, pinned=True)
    return room


# --- earlier versions -----------------------------------------------------------------------------


def test_versions_list_every_body_oldest_first_with_the_current_one_last(client, room, carol, edited):
    client.force_login(carol)
    response = client.get(versions_url(room, 1))
    assert response.status_code == 200
    data = response.json()
    assert data["seq"] == 1
    assert [v["body"] for v in data["versions"]] == ["first", "second", "third"]
    first, second, third = data["versions"]
    assert first["written_at"] == edited.created_at.isoformat()
    # Each version was written when the one before it was replaced; the current one is not replaced.
    assert second["written_at"] == first["replaced_at"]
    assert third["written_at"] == second["replaced_at"] == edited.edited_at.isoformat()
    assert third["replaced_at"] is None


def test_an_unedited_message_has_one_version(client, room, alice, carol):
    message = post(room, alice, "just once", "m1")
    client.force_login(carol)
    assert client.get(versions_url(room, 1)).json() == {
        "seq": 1,
        "versions": [
            {"body": "just once", "written_at": message.created_at.isoformat(), "replaced_at": None}
        ],
    }


@pytest.mark.parametrize("seq", [2, 0, 2**53 + 1, 10**30])
def test_versions_of_a_message_that_does_not_exist_are_a_json_404(client, room, carol, edited, seq):
    client.force_login(carol)
    response = client.get(versions_url(room, seq))
    assert response.status_code == 404
    assert response.json() == {"code": "no_such_message", "detail": "No such message in this room."}


def test_versions_of_a_deleted_message_are_gone(client, room, bob, carol, edited):
    delete_message(user=bob, room_id=room.id, seq=1)
    client.force_login(carol)
    response = client.get(versions_url(room, 1))
    assert response.status_code == 404 and response.json()["code"] == "no_such_message"


def test_versions_in_a_private_room_are_404_to_others_exactly_like_a_missing_room(client, private, dave):
    client.force_login(dave)
    hidden = client.get(versions_url(private, 1))
    missing = client.get(reverse("message_versions", args=["no-such-room", 1]))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() == {"code": "not_found", "detail": "No such room."}


def test_versions_in_a_public_room_are_readable_by_a_non_member(client, room, dave, edited):
    client.force_login(dave)
    response = client.get(versions_url(room, 1))
    assert response.status_code == 200 and len(response.json()["versions"]) == 3


def test_a_room_that_hides_versions_shows_them_to_its_managers_only(client, room, alice, bob, carol, edited):
    update_room_policy(actor=alice, room=room, history_visible_to="managers")
    client.force_login(carol)
    refused = client.get(versions_url(room, 1))
    assert refused.status_code == 403
    assert refused.json() == {
        "code": "forbidden",
        "detail": "In this room only the owner and admins see earlier versions.",
    }
    client.force_login(alice)
    assert [v["body"] for v in client.get(versions_url(room, 1)).json()["versions"]] == [
        "first",
        "second",
        "third",
    ]


def test_the_site_default_hides_versions_unless_the_room_shows_them(
    client, settings, room, alice, carol, edited
):
    settings.PARLEY = {**settings.PARLEY, "HISTORY_VISIBLE_TO": "managers"}
    client.force_login(carol)
    assert client.get(versions_url(room, 1)).status_code == 403
    update_room_policy(actor=alice, room=room, history_visible_to="members")
    assert client.get(versions_url(room, 1)).status_code == 200


# --- pins -----------------------------------------------------------------------------------------


def test_pins_are_the_pinned_messages_as_they_now_are_newest_pin_first(client, room, alice, bob, carol):
    for i in range(1, 5):
        post(room, alice, f"message {i}", f"m{i}")
    set_pinned(user=bob, room_id=room.id, seq=2, pinned=True)
    set_pinned(user=carol, room_id=room.id, seq=4, pinned=True)
    set_pinned(user=bob, room_id=room.id, seq=1, pinned=True)
    set_pinned(user=bob, room_id=room.id, seq=1, pinned=False)
    set_pinned(user=bob, room_id=room.id, seq=3, pinned=True)
    delete_message(user=alice, room_id=room.id, seq=3)  # a deleted message is no longer pinned
    edit_message(user=alice, room_id=room.id, seq=2, body="message 2, edited", client_id="e2")
    add_reaction(user=carol, room_id=room.id, seq=2, emoji="👍")
    client.force_login(carol)
    messages = client.get(reverse("room_pins", args=[room.slug])).json()["messages"]
    assert [m["seq"] for m in messages] == [4, 2]
    assert [m["pinned"]["by"] for m in messages] == ["carol", "bob"]
    second = messages[1]
    assert second["body"] == "message 2, edited" and second["edited_at"] is not None
    assert second["reactions"] == [{"emoji": "👍", "count": 1, "users": ["carol"]}]
    assert second["change"] == ChatMessage.objects.get(room=room, seq=2).change


def test_pins_follow_the_access_rule(client, room, private, carol, dave):
    client.force_login(dave)
    assert client.get(reverse("room_pins", args=[room.slug])).json() == {"messages": []}
    hidden = client.get(reverse("room_pins", args=[private.slug]))
    assert hidden.status_code == 404 and hidden.json() == {"code": "not_found", "detail": "No such room."}
    client.force_login(carol)
    assert client.get(reverse("room_pins", args=[private.slug])).status_code == 404


# --- the emoji catalogue --------------------------------------------------------------------------


def test_the_emoji_catalogue_lists_every_emoji_with_names(client, alice):
    client.force_login(alice)
    response = client.get(reverse("emoji"))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    catalogue = response.json()
    assert catalogue == emoji_catalogue()
    assert len(catalogue) > 1500
    thumbs = next(entry for entry in catalogue if entry["emoji"] == "👍")
    assert thumbs["name"] == "thumbs up" and "thumbsup" in thumbs["aliases"]


def test_the_emoji_catalogue_is_kept_by_the_browser_under_its_versioned_address(client, alice):
    client.force_login(alice)
    room_page_url = emoji_address(client, alice)
    versioned = client.get(room_page_url)
    assert versioned.status_code == 200
    cache_control = {part.strip() for part in versioned["Cache-Control"].split(",")}
    assert {"private", "max-age=31536000", "immutable"} <= cache_control
    etag = versioned["ETag"]
    assert etag.strip('"') == room_page_url.split("?v=")[1]
    # Without the version it revalidates, and an unchanged catalogue is a 304 without a body.
    plain = client.get(reverse("emoji"))
    assert {"private", "no-cache"} <= {part.strip() for part in plain["Cache-Control"].split(",")}
    unchanged = client.get(reverse("emoji"), headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""


def emoji_address(client, user) -> str:
    """The catalogue's address as the room page gives it to the script."""
    room = create_room(creator=user, name="emoji test")
    return client.get(reverse("room", args=[room.slug])).context["room_config"]["emoji_url"]


def test_the_emoji_catalogue_is_compressed_for_browsers_that_accept_it(client, alice):
    client.force_login(alice)
    plain = client.get(reverse("emoji"))
    compressed = client.get(reverse("emoji"), headers={"Accept-Encoding": "gzip"})
    assert compressed["Content-Encoding"] == "gzip"
    assert len(compressed.content) < len(plain.content) / 3
    assert json.loads(gzip.decompress(compressed.content)) == plain.json()
    # A compressed answer is revalidated by the same (weak) tag.
    again = client.get(
        reverse("emoji"), headers={"Accept-Encoding": "gzip", "If-None-Match": compressed["ETag"]}
    )
    assert again.status_code == 304


# --- reading never writes, and needs a log-in -----------------------------------------------------


@pytest.mark.parametrize("name", ["versions", "pins", "emoji", "settings"])
def test_the_new_pages_need_a_log_in(client, room, edited, name):
    url = {
        "versions": versions_url(room, 1),
        "pins": reverse("room_pins", args=[room.slug]),
        "emoji": reverse("emoji"),
        "settings": reverse("room_settings", args=[room.slug]),
    }[name]
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["versions", "pins", "emoji"])
def test_the_json_endpoints_answer_get_only(client, room, alice, edited, name):
    url = {
        "versions": versions_url(room, 1),
        "pins": reverse("room_pins", args=[room.slug]),
        "emoji": reverse("emoji"),
    }[name]
    client.force_login(alice)
    assert client.post(url).status_code == 405


def test_reading_the_room_its_versions_pins_and_settings_writes_nothing(client, room, alice, bob, edited):
    set_pinned(user=bob, room_id=room.id, seq=1, pinned=True)
    post(room, alice, "alice's own", "m2")
    client.force_login(alice)
    client.get(reverse("room", args=[room.slug]))  # the session is saved by the first request
    urls = [
        reverse("room", args=[room.slug]),
        reverse("room", args=[room.slug]) + "?around=1",
        reverse("room_history", args=[room.slug]) + "?before_seq=2",
        versions_url(room, 1),
        reverse("room_pins", args=[room.slug]),
        reverse("emoji"),
        reverse("room_settings", args=[room.slug]),
        reverse("message_edit", args=[room.slug, 2]),
        reverse("message_delete", args=[room.slug, 2]),
    ]
    before = ChatRoom.objects.values_list("last_seq", "last_change").get(pk=room.pk)
    with CaptureQueriesContext(connection) as queries:
        for url in urls:
            assert client.get(url).status_code == 200, url
    writes = [
        q["sql"] for q in queries if q["sql"].lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE")
    ]
    assert writes == []
    assert ChatRoom.objects.values_list("last_seq", "last_change").get(pk=room.pk) == before


# --- the room page and its history show messages as they now are -------------------------------


@pytest.fixture
def changed_room(room, alice, bob, carol):
    """Message 1 deleted, 2 edited and reacted to, 3 pinned, 4 untouched."""
    post(room, bob, "@carol regrettable", "m1")
    post(room, alice, "tpyo", "m2")
    post(room, carol, "pin me", "m3")
    post(room, bob, "plain", "m4")
    add_reaction(user=alice, room_id=room.id, seq=1, emoji="😬")
    delete_message(user=bob, room_id=room.id, seq=1)
    edit_message(user=alice, room_id=room.id, seq=2, body="typo", client_id="e2")
    add_reaction(user=bob, room_id=room.id, seq=2, emoji="👍")
    add_reaction(user=carol, room_id=room.id, seq=2, emoji="🎉")
    add_reaction(user=carol, room_id=room.id, seq=2, emoji="👍")
    set_pinned(user=alice, room_id=room.id, seq=3, pinned=True)
    return room


def assert_current_state(messages: list[dict]):
    by_seq = {m["seq"]: m for m in messages}
    assert by_seq[1]["deleted"] is True
    assert (by_seq[1]["body"], by_seq[1]["mentions"], by_seq[1]["reactions"]) == ("", [], [])
    assert by_seq[2]["body"] == "typo" and by_seq[2]["edited_at"] is not None
    assert by_seq[2]["reactions"] == [
        {"emoji": "👍", "count": 2, "users": ["bob", "carol"]},
        {"emoji": "🎉", "count": 1, "users": ["carol"]},
    ]
    assert by_seq[3]["pinned"]["by"] == "alice"
    assert (by_seq[4]["edited_at"], by_seq[4]["deleted"], by_seq[4]["reactions"], by_seq[4]["pinned"]) == (
        None,
        False,
        [],
        None,
    )


def test_load_earlier_answers_the_current_state(client, changed_room, carol):
    client.force_login(carol)
    messages = client.get(reverse("room_history", args=[changed_room.slug]), {"before_seq": 5}).json()[
        "messages"
    ]
    assert [m["seq"] for m in messages] == [1, 2, 3, 4]  # the tombstone keeps its place
    assert_current_state(messages)


@pytest.mark.parametrize("query", [{}, {"around": 1}])
def test_the_room_page_renders_the_current_state(client, changed_room, carol, query):
    from messaging.serializers import stored_message_payload

    client.force_login(carol)
    response = client.get(reverse("room", args=[changed_room.slug]), query)
    history = response.context["history"]
    assert [m.seq for m in history] == [1, 2, 3, 4]
    assert_current_state([stored_message_payload(m) for m in history])
    html = response.content.decode()
    assert "regrettable" not in html and "tpyo" not in html


def test_the_room_page_gives_the_script_the_rooms_rules(client, settings, changed_room, alice, carol):
    settings.PARLEY = {**settings.PARLEY, "EDIT_WINDOW_MINUTES": 15, "DELETE_WINDOW_MINUTES": 0}
    set_pinned(user=carol, room_id=changed_room.id, seq=4, pinned=True)
    client.force_login(carol)
    page = client.get(reverse("room", args=[changed_room.slug])).context
    assert [m.seq for m in page["pinned_messages"]] == [4, 3]
    assert (page["can_manage"], page["can_see_versions"], page["pins_by"]) == (False, True, "members")
    assert (page["edit_window_minutes"], page["delete_window_minutes"]) == (15, 0)
    config = page["room_config"]
    assert config["last_change"] == ChatRoom.objects.get(pk=changed_room.pk).last_change
    assert config["pins_url"] == reverse("room_pins", args=[changed_room.slug])
    assert config["versions_url"].replace("{seq}", "2") == versions_url(changed_room, 2)
    assert config["settings_url"] is None and config["can_manage"] is False

    update_room_policy(
        actor=alice, room=changed_room, edit_window_minutes=0, delete_window_minutes=5,
        history_visible_to="managers", pins_by="managers",
    )  # fmt: skip
    page = client.get(reverse("room", args=[changed_room.slug])).context
    assert (page["can_see_versions"], page["pins_by"]) == (False, "managers")
    assert (page["edit_window_minutes"], page["delete_window_minutes"]) == (0, 5)
    client.force_login(alice)
    page = client.get(reverse("room", args=[changed_room.slug])).context
    assert (page["can_manage"], page["can_see_versions"]) == (True, True)
    assert page["room_config"]["settings_url"] == reverse("room_settings", args=[changed_room.slug])


def test_room_page_query_count_does_not_grow_with_pins_and_reactions(
    client, room, alice, bob, carol, django_assert_max_num_queries
):
    for i in range(1, 31):
        post(room, alice if i % 2 else bob, f"@bob @carol {i}", f"c{i}")
        add_reaction(user=carol, room_id=room.id, seq=i, emoji="👍")
        add_reaction(user=bob, room_id=room.id, seq=i, emoji="🎉")
        if i % 3 == 0:
            set_pinned(user=carol, room_id=room.id, seq=i, pinned=True)
    edit_message(user=alice, room_id=room.id, seq=1, body="edited", client_id="e1")
    client.force_login(alice)
    # 13, one COUNT since threads for the header's Threads badge, and one for the room's
    # "N scheduled" indicator (scheduled messages), one for the page's notification preferences
    # (#notify-prefs): constants, as before.
    with django_assert_max_num_queries(16):
        assert client.get(reverse("room", args=[room.slug])).status_code == 200


# --- room settings --------------------------------------------------------------------------------


def settings_url(room):
    return reverse("room_settings", args=[room.slug])


def policy(room) -> tuple:
    return ChatRoom.objects.values_list(
        "edit_window_minutes", "delete_window_minutes", "history_visible_to", "pins_by"
    ).get(pk=room.pk)


def test_the_owner_sets_the_rooms_rules_on_its_settings_page(client, room, alice):
    client.force_login(alice)
    page = client.get(settings_url(room))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html and f'action="{settings_url(room)}"' in html
    assert page.context["form"].initial == {
        "edit_window_minutes": None,
        "delete_window_minutes": None,
        "history_visible_to": "",
        "pins_by": "members",
        "group_mentions_by": "",
    }
    response = client.post(
        settings_url(room),
        {"edit_window_minutes": "15", "delete_window_minutes": "0", "history_visible_to": "managers",
         "pins_by": "managers"},
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == settings_url(room)
    assert policy(room) == (15, 0, "managers", "managers")
    saved = client.get(settings_url(room))
    assert "Room settings saved." in saved.content.decode()
    assert saved.context["form"].initial["edit_window_minutes"] == 15
    # Emptied, each falls back to the site's default.
    client.post(settings_url(room), {"edit_window_minutes": "", "delete_window_minutes": "",
                                     "history_visible_to": "", "pins_by": "members"})  # fmt: skip
    assert policy(room) == (None, None, "", "members")


def test_a_room_admin_may_change_the_settings_too(client, room, alice, bob):
    from messaging.models import Membership

    Membership.objects.filter(room=room, user=bob).update(role="admin")
    client.force_login(bob)
    assert client.get(settings_url(room)).status_code == 200
    client.post(settings_url(room), {"edit_window_minutes": "5", "pins_by": "members"})
    assert policy(room) == (5, None, "", "members")


@pytest.mark.parametrize("who", ["bob", "dave"])
def test_members_and_readers_get_403_from_the_settings_page_and_change_nothing(client, room, bob, dave, who):
    client.force_login({"bob": bob, "dave": dave}[who])
    assert client.get(settings_url(room)).status_code == 403
    response = client.post(settings_url(room), {"edit_window_minutes": "1", "pins_by": "managers"})
    assert response.status_code == 403
    assert policy(room) == (None, None, "", "members")


def test_the_settings_of_a_private_room_are_404_to_others(client, private, dave):
    client.force_login(dave)
    assert client.get(settings_url(private)).status_code == 404
    assert client.post(settings_url(private), {"pins_by": "managers"}).status_code == 404
    assert policy(private) == (None, None, "", "members")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("edit_window_minutes", "-1", "Ensure this value is greater than or equal to 0."),
        ("edit_window_minutes", "ten", "Enter a whole number."),
        ("delete_window_minutes", str(MAX_WINDOW_MINUTES + 1), "less than or equal to 525600"),
        ("delete_window_minutes", "1.5", "Enter a whole number."),
        ("history_visible_to", "everyone", "Select a valid choice."),
        ("pins_by", "", "This field is required."),
        ("pins_by", "anyone", "Select a valid choice."),
    ],
)
def test_bad_settings_are_shown_beside_their_field_and_nothing_is_saved(
    client, room, alice, field, value, error
):
    client.force_login(alice)
    data = {
        "edit_window_minutes": "10",
        "delete_window_minutes": "10",
        "history_visible_to": "",
        "pins_by": "members",
    }
    response = client.post(settings_url(room), {**data, field: value})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    assert error in response.context["form"].errors[field][0]
    html = response.content.decode()
    assert 'class="field-error" role="alert"' in html
    assert f'value="{value}"' in html or field in ("history_visible_to", "pins_by")  # what was typed stays
    assert policy(room) == (None, None, "", "members")


def test_the_settings_form_needs_its_csrf_token(room, alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post(settings_url(room), {"pins_by": "managers"}).status_code == 403
    assert policy(room) == (None, None, "", "members")


def test_the_settings_page_says_the_sites_defaults(client, settings, room, alice):
    settings.PARLEY = {**settings.PARLEY, "EDIT_WINDOW_MINUTES": 30, "DELETE_WINDOW_MINUTES": 0,
                       "HISTORY_VISIBLE_TO": "managers"}  # fmt: skip
    client.force_login(alice)
    html = client.get(settings_url(room)).content.decode()
    assert "Empty: the site's default (30 minutes). 0: no limit." in html
    assert "Empty: the site's default (no limit). 0: no limit." in html
    assert "The site&#x27;s default (only the room&#x27;s owner and admins)" in html


# --- the settings action --------------------------------------------------------------------------


def test_the_policy_action_is_for_managers_only(room, alice, bob, dave):
    with pytest.raises(PermissionDenied):
        update_room_policy(actor=bob, room=room, pins_by="managers")
    with pytest.raises(NotMember):
        update_room_policy(actor=dave, room=room, pins_by="managers")
    assert update_room_policy(actor=alice, room=room, pins_by="managers").pins_by == "managers"


@pytest.mark.parametrize(
    "fields",
    [
        {"edit_window_minutes": -1},
        {"edit_window_minutes": MAX_WINDOW_MINUTES + 1},
        {"delete_window_minutes": "5"},
        {"delete_window_minutes": True},
        {"history_visible_to": "everyone"},
        {"pins_by": ""},
        {"last_change": 0},
        {"name": "renamed"},
    ],
)
def test_the_policy_action_refuses_what_is_not_a_rule(room, alice, fields):
    with pytest.raises(BadRequest):
        update_room_policy(actor=alice, room=room, **fields)
    assert policy(room) == (None, None, "", "members")
    assert ChatRoom.objects.get(pk=room.pk).name == "general"


def test_saving_the_rules_keeps_the_positions_taken_meanwhile(room, alice, bob):
    stale = ChatRoom.objects.get(pk=room.pk)  # read before the messages below
    post(room, bob, "one", "m1")
    post(room, bob, "two", "m2")
    add_reaction(user=alice, room_id=room.id, seq=1, emoji="👍")
    update_room_policy(actor=alice, room=stale, edit_window_minutes=5)
    assert ChatRoom.objects.values_list("last_seq", "last_change").get(pk=room.pk) == (2, 3)


def test_the_next_change_obeys_the_new_rules(client, room, alice, bob):
    post(room, bob, "old words", "m1")
    ChatMessage.objects.filter(room=room, seq=1).update(created_at=timezone.now() - timedelta(minutes=10))
    edit_message(user=bob, room_id=room.id, seq=1, body="still fine", client_id="e1")  # no limit yet
    client.force_login(alice)
    client.post(
        settings_url(room), {"edit_window_minutes": "5", "delete_window_minutes": "5", "pins_by": "managers"}
    )
    with pytest.raises(TooLate):
        edit_message(user=bob, room_id=room.id, seq=1, body="too late now", client_id="e2")
    with pytest.raises(TooLate):
        delete_message(user=bob, room_id=room.id, seq=1)
    with pytest.raises(PermissionDenied):
        set_pinned(user=bob, room_id=room.id, seq=1, pinned=True)
    delete_message(user=alice, room_id=room.id, seq=1)  # managers delete at any time
    assert ChatMessage.objects.get(room=room, seq=1).is_deleted


# --- editing and deleting without JavaScript ------------------------------------------------------


def edit_url(room, seq):
    return reverse("message_edit", args=[room.slug, seq])


def delete_url(room, seq):
    return reverse("message_delete", args=[room.slug, seq])


def test_an_author_edits_a_message_with_the_form_and_a_double_submit_is_one_edit(client, room, bob):
    post(room, bob, "frist", "m1")
    client.force_login(bob)
    page = client.get(edit_url(room, 1))
    html = page.content.decode()
    assert page.status_code == 200 and ">frist</textarea>" in html and 'name="csrfmiddlewaretoken"' in html
    form = {"body": "first", "client_id": str(page.context["client_id"])}
    for _ in range(2):
        response = client.post(edit_url(room, 1), form)
        assert (
            response.status_code == 302 and response["Location"] == reverse("room", args=[room.slug]) + "#m1"
        )
    message = ChatMessage.objects.get(room=room, seq=1)
    assert (message.body, message.revisions.count(), message.change) == ("first", 1, 2)


def test_the_edit_form_is_only_for_the_author_of_a_message_still_there(client, room, alice, bob, dave):
    post(room, bob, "mine", "m1")
    post(room, bob, "gone", "m2")
    delete_message(user=bob, room_id=room.id, seq=2)
    for user in (alice, dave):  # the room's owner, a reader
        client.force_login(user)
        assert client.get(edit_url(room, 1)).status_code == 403
        assert client.post(edit_url(room, 1), {"body": "theirs", "client_id": "x"}).status_code == 403
    client.force_login(bob)
    assert client.get(edit_url(room, 2)).status_code == 409  # message_deleted
    assert client.get(edit_url(room, 3)).status_code == 404
    assert client.post(delete_url(room, 10**30)).status_code == 404
    assert ChatMessage.objects.get(room=room, seq=1).body == "mine"


def test_a_refused_edit_shows_why_and_keeps_the_text(client, settings, room, bob):
    settings.PARLEY = {**settings.PARLEY, "EDIT_WINDOW_MINUTES": 5}
    post(room, bob, "old", "m1")
    ChatMessage.objects.filter(room=room, seq=1).update(created_at=timezone.now() - timedelta(minutes=6))
    client.force_login(bob)
    response = client.post(edit_url(room, 1), {"body": "new <words>", "client_id": "e1"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Messages can be edited for 5 minutes after they are sent." in html
    assert ">new &lt;words&gt;</textarea>" in html
    assert ChatMessage.objects.get(room=room, seq=1).body == "old"


def test_deleting_with_the_form_asks_first_then_tombstones(client, room, bob):
    post(room, bob, "regret", "m1")
    client.force_login(bob)
    confirm = client.get(delete_url(room, 1))
    assert confirm.status_code == 200 and "regret" in confirm.content.decode()
    assert not ChatMessage.objects.get(room=room, seq=1).is_deleted  # asking writes nothing
    response = client.post(delete_url(room, 1), follow=True)
    assert response.redirect_chain == [(reverse("room", args=[room.slug]) + "#m1", 302)]
    assert "Message deleted." in response.content.decode()
    assert ChatMessage.objects.values_list("seq", "body").get(room=room) == (1, "")


def test_the_delete_form_follows_the_rooms_rules(client, settings, room, alice, bob, carol, private, dave):
    settings.PARLEY = {**settings.PARLEY, "DELETE_WINDOW_MINUTES": 5}
    post(room, bob, "bob's", "m1")
    client.force_login(carol)
    assert client.get(delete_url(room, 1)).status_code == 403
    assert client.post(delete_url(room, 1)).status_code == 403
    client.force_login(dave)
    assert client.post(delete_url(private, 1)).status_code == 404
    ChatMessage.objects.filter(room=room, seq=1).update(created_at=timezone.now() - timedelta(minutes=6))
    client.force_login(bob)
    late = client.post(delete_url(room, 1), follow=True)
    assert "The message was not deleted: Messages can be deleted for 5 minutes after they are sent." in (
        late.content.decode()
    )
    assert ChatMessage.objects.get(room=room, seq=1).body == "bob's"
    client.force_login(alice)  # the owner, at any time
    client.post(delete_url(room, 1))
    assert ChatMessage.objects.get(room=room, seq=1).is_deleted


@pytest.mark.django_db(transaction=True)
async def test_an_edit_and_a_delete_by_form_reach_open_sockets(client, connect, room, alice, bob, carol):
    from channels.db import database_sync_to_async

    await database_sync_to_async(post)(room, bob, "typo", "m1")
    b, c = await connect(bob), await connect(carol)
    await database_sync_to_async(client.force_login)(bob)
    await database_sync_to_async(client.post)(edit_url(room, 1), {"body": "fixed", "client_id": "e1"})
    await database_sync_to_async(client.post)(delete_url(room, 1))
    for tab in (b, c):
        edited = (await tab.receive_type("message.updated"))["message"]
        assert (edited["body"], edited["change"], edited["edited_at"] is not None) == ("fixed", 2, True)
        deleted = (await tab.receive_type("message.updated"))["message"]
        assert (deleted["body"], deleted["change"], deleted["deleted"]) == ("", 3, True)


def test_the_settings_and_edit_pages_label_every_field(client, room, alice):
    from html.parser import HTMLParser

    class Labels(HTMLParser):
        def __init__(self):
            super().__init__()
            self.ids, self.references, self.fields = [], [], []

        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            if "id" in attributes:
                self.ids.append(attributes["id"])
            for name in ("aria-describedby", "for"):
                self.references.extend((attributes.get(name) or "").split())
            if tag in ("input", "select", "textarea") and attributes.get("type") != "hidden":
                self.fields.append(attributes.get("id"))

    post(room, alice, "mine", "m1")
    client.force_login(alice)
    # Each page's own fields, and the header's search box (labelled like the rest).
    for url, fields in ((settings_url(room), 5 + 1), (edit_url(room, 1), 1 + 1)):
        page = Labels()
        page.feed(client.get(url).content.decode())
        assert len(page.ids) == len(set(page.ids))
        assert [ref for ref in page.references if ref not in page.ids] == []
        assert len(page.fields) == fields and all(field in page.references for field in page.fields)
