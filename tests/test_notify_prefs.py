"""The notification preferences every signed-in page carries for its scripts (`#notify-prefs`,
notifications/context_processors.py): what static/js/desktop.js decides a popup by."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from messaging.models import MUTED_FOREVER, ChatRoom, Membership
from notifications.context_processors import notify_prefs_of

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def page_prefs(html: str) -> dict | None:
    found = re.search(r'<script id="notify-prefs" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1)) if found else None


def direct(*people) -> ChatRoom:
    key = "-".join(str(pk) for pk in sorted(person.pk for person in people))
    conversation = ChatRoom.objects.create(
        kind=ChatRoom.Kind.DIRECT, is_private=True, direct_key=key, name=f"dm-{key}", slug=f"dm-{key}"
    )
    for person in people:
        Membership.objects.create(user=person, room=conversation)
    return conversation


def test_a_page_carries_the_preferences_and_every_room_with_its_level_mute_name_and_address(
    client, room, alice, bob, carol
):
    Membership.objects.filter(user=alice, room=room).update(notify_level="all", muted_until=MUTED_FOREVER)
    conversation = direct(alice, carol, bob)
    alice.desktop_notifications = False
    alice.notification_sound = True
    alice.dnd_until = datetime(2999, 1, 1, 9, 0, tzinfo=UTC)
    alice.save()
    client.force_login(alice)

    prefs = page_prefs(client.get(reverse("home")).content.decode())

    assert prefs == {
        "dnd_until": "2999-01-01T09:00:00+00:00",
        "desktop_notifications": False,
        "notification_sound": True,
        "rooms": {
            str(room.id): {
                "notify_level": "all",
                "muted_until": "9999-12-31T00:00:00+00:00",
                "direct": False,
                "name": "general",
                "url": "/rooms/general/",
            },
            # A direct conversation is named by its other people, as the sidebar names it.
            str(conversation.id): {
                "notify_level": "mentions",
                "muted_until": None,
                "direct": True,
                "name": "Bob, Carol",
                "url": f"/rooms/{conversation.slug}/",
            },
        },
    }


def test_an_ended_mute_and_do_not_disturb_are_none(room, alice):
    Membership.objects.filter(user=alice, room=room).update(muted_until=NOW - timedelta(seconds=1))
    alice.dnd_until = NOW
    alice.save()

    prefs = notify_prefs_of(user=alice, now=NOW)

    assert prefs["dnd_until"] is None
    assert prefs["rooms"][str(room.id)]["muted_until"] is None
    later = NOW - timedelta(hours=1)
    assert notify_prefs_of(user=alice, now=later)["dnd_until"] == NOW.isoformat()


def test_an_anonymous_page_has_none(client, room):
    html = client.get(reverse("login")).content.decode()
    assert 'id="notify-prefs"' not in html


def test_the_preferences_cost_one_query_and_one_more_with_direct_conversations(
    room, alice, bob, django_assert_num_queries
):
    with django_assert_num_queries(1):
        notify_prefs_of(user=alice, now=NOW)
    direct(alice, bob)
    with django_assert_num_queries(2):
        assert len(notify_prefs_of(user=alice, now=NOW)["rooms"]) == 2
