"""Notification control: a room's level and timed mute, do-not-disturb with its end, desktop
preferences. Each write is refused with its code when it cannot be, stores what it says, and
tells every socket of the user (room.settings, notify.settings) after its commit; mutes and DND
end by themselves as the clock passes them (the clock is passed in, nothing sleeps). The
settings page and the endpoints work as forms without JavaScript and answer JSON to a script."""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from messaging.actions.rooms import create_room
from messaging.errors import ParleyError
from messaging.models import MUTED_FOREVER, Membership
from notifications import preferences
from notifications.preferences import (
    clear_dnd,
    mute_room,
    preset_end,
    set_desktop,
    set_dnd,
    set_notify_level,
    unmute_room,
)

from .chat import PASSWORD
from .frame_schema import ISO_TIME, check_frame

NOW = timezone.now().replace(microsecond=0)

# The two frames' shapes, in the table's terms (tests/frame_schema.py takes them with the docs).
SETTINGS_FRAMES = {
    "room.settings": {"room": int, "notify_level": str, "muted_until": (ISO_TIME, type(None))},
    "notify.settings": {
        "dnd_until": (ISO_TIME, type(None)),
        "desktop_notifications": bool,
        "notification_sound": bool,
    },
}


@pytest.fixture
def frames(monkeypatch, django_capture_on_commit_callbacks):
    """What the preferences sent to the users' sockets: (user id, frame), after each commit."""
    sent: list[tuple[int, dict]] = []
    monkeypatch.setattr(
        preferences.outlet,
        "send_to_user_sync",
        lambda user_id, text: sent.append((user_id, json.loads(text))),
    )
    with django_capture_on_commit_callbacks(execute=True):
        yield sent


def refused(action, **kwargs) -> str:
    with pytest.raises(ParleyError) as refusal:
        action(**kwargs)
    return refusal.value.code


def membership(user, room) -> Membership:
    return Membership.objects.get(user=user, room=room)


@pytest.fixture
def secret(alice, carol):
    room = create_room(creator=alice, name="secret", is_private=True)
    Membership.objects.create(user=carol, room=room)
    return room


# --- a room's level ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_members_level_is_stored_and_sent_to_their_sockets_alone(room, bob, frames):
    assert membership(bob, room).notify_level == "mentions"  # the default

    set_notify_level(user=bob, room_id=room.id, level="all")
    set_notify_level(user=bob, room_id=room.id, level="nothing")

    assert membership(bob, room).notify_level == "nothing"
    assert [user for user, _ in frames] == [bob.id, bob.id]
    for _, frame in frames:
        check_frame(frame, SETTINGS_FRAMES)
    assert frames[-1][1] == {
        "type": "room.settings",
        "room": room.id,
        "notify_level": "nothing",
        "muted_until": None,
    }


@pytest.mark.django_db(transaction=True)
def test_a_level_that_is_not_one_is_refused_and_changes_nothing(room, bob, frames):
    for level in ("loud", "", "ALL", None):
        assert refused(set_notify_level, user=bob, room_id=room.id, level=level) == "bad_request"
    assert membership(bob, room).notify_level == "mentions"
    assert frames == []


@pytest.mark.django_db(transaction=True)
def test_rooms_one_may_not_see_or_is_not_in_are_refused_as_the_access_rule_says(room, secret, dave, frames):
    # A public room one reads but is not in: not_member; a private one: as if it were not there.
    assert refused(set_notify_level, user=dave, room_id=room.id, level="all") == "not_member"
    assert (
        refused(mute_room, user=dave, room_id=secret.id, until=NOW + timedelta(hours=1), now=NOW)
        == "not_found"
    )
    assert refused(unmute_room, user=dave, room_id=999_999) == "not_found"
    assert not Membership.objects.filter(user=dave).exists()
    assert frames == []


# --- timed mutes ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_timed_mute_lasts_until_its_end_and_then_is_over_by_itself(room, bob, frames):
    end = NOW + timedelta(hours=1)
    mute_room(user=bob, room_id=room.id, until=end, now=NOW)

    stored = membership(bob, room)
    assert stored.muted_until == end
    assert stored.is_muted(NOW + timedelta(minutes=59)) is True
    assert preferences.active_mute(stored, NOW + timedelta(minutes=59)) == end
    # Its end passes: not muted any more, without anything having run.
    assert stored.is_muted(end) is False
    assert preferences.active_mute(stored, end + timedelta(seconds=1)) is None
    assert preferences.room_settings_payload(stored, end)["muted_until"] is None
    assert preferences.preferences_payload(user=bob, now=end)["rooms"][str(room.id)]["muted_until"] is None

    (user, frame) = frames[-1]
    check_frame(frame, SETTINGS_FRAMES)
    assert user == bob.id
    assert datetime.fromisoformat(frame["muted_until"]) == end


@pytest.mark.django_db(transaction=True)
def test_muted_until_unmuted_lasts_any_time_and_unmuting_ends_it(room, bob, frames):
    mute_room(user=bob, room_id=room.id, until=MUTED_FOREVER, now=NOW)
    assert membership(bob, room).is_muted(NOW + timedelta(days=3650)) is True
    assert datetime.fromisoformat(frames[-1][1]["muted_until"]) == MUTED_FOREVER

    unmute_room(user=bob, room_id=room.id)

    assert membership(bob, room).muted_until is None
    assert frames[-1][1] == {
        "type": "room.settings",
        "room": room.id,
        "notify_level": "mentions",
        "muted_until": None,
    }


@pytest.mark.django_db(transaction=True)
def test_mute_ends_in_the_past_beyond_a_year_or_without_an_offset_are_refused(room, bob, frames):
    where = {"user": bob, "room_id": room.id, "now": NOW}
    assert refused(mute_room, **where, until=NOW) == "in_the_past"
    assert refused(mute_room, **where, until=NOW - timedelta(minutes=1)) == "in_the_past"
    assert refused(mute_room, **where, until=NOW + timedelta(days=365, seconds=1)) == "too_far_ahead"
    assert refused(mute_room, **where, until=datetime(2030, 1, 1, 9, 0)) == "bad_request"
    assert membership(bob, room).muted_until is None
    assert frames == []
    # A year exactly is allowed.
    mute_room(**where, until=NOW + timedelta(days=365))
    assert membership(bob, room).is_muted(NOW) is True


@pytest.mark.django_db(transaction=True)
def test_level_and_mute_change_in_one_write_and_one_frame(room, bob, frames):
    preferences.set_room_preferences(
        user=bob, room_id=room.id, level="all", mute=NOW + timedelta(hours=2), now=NOW
    )
    stored = membership(bob, room)
    assert (stored.notify_level, stored.muted_until) == ("all", NOW + timedelta(hours=2))
    assert len(frames) == 1
    assert refused(preferences.set_room_preferences, user=bob, room_id=room.id) == "bad_request"


# --- presets -------------------------------------------------------------------------------------


def test_presets_end_where_they_say_in_the_browsers_time_zone():
    now = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)
    assert preset_end("30m", now=now) == now + timedelta(minutes=30)
    assert preset_end("1h", now=now) == now + timedelta(hours=1)
    assert preset_end("2h", now=now) == now + timedelta(hours=2)
    assert preset_end("off", now=now) is None
    # "Tomorrow 9:00" is the person's tomorrow: in New York it is still the 2nd (17:30 there)…
    new_york = preset_end("tomorrow", now=now, zone=ZoneInfo("America/New_York"))
    assert new_york == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    # … in Tokyo the 3rd already (07:30 there), so tomorrow is the 4th.
    tokyo = preset_end("tomorrow", now=now, zone=ZoneInfo("Asia/Tokyo"))
    assert tokyo == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    # Without a zone, the server's (UTC here).
    assert preset_end("tomorrow", now=now) == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    # Across a change to summer time, still 9:00 on the clock.
    spring = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    paris = preset_end("tomorrow", now=spring, zone=ZoneInfo("Europe/Paris"))
    assert paris == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert preset_end("forever", now=now, forever=True) == MUTED_FOREVER
    for choice in ("forever", "soon", "1d", ""):
        with pytest.raises(ParleyError) as refusal:
            preset_end(choice, now=now)
        assert refusal.value.code == "bad_request"


# --- do not disturb, desktop -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_dnd_lasts_until_its_end_then_is_over_by_itself_and_every_socket_hears_of_it(bob, frames):
    end = NOW + timedelta(minutes=30)
    set_dnd(user=bob, until=end, now=NOW)
    bob.refresh_from_db()

    assert bob.dnd_until == end
    assert bob.in_dnd(NOW + timedelta(minutes=29)) is True
    assert bob.in_dnd(end) is False
    assert preferences.active_dnd(bob, end) is None
    assert preferences.notify_settings_payload(bob, end)["dnd_until"] is None
    user, frame = frames[-1]
    check_frame(frame, SETTINGS_FRAMES)
    assert user == bob.id
    assert frame == {
        "type": "notify.settings",
        "dnd_until": end.isoformat(),
        "desktop_notifications": True,
        "notification_sound": False,
    }

    clear_dnd(user=bob)
    bob.refresh_from_db()
    assert bob.dnd_until is None
    assert frames[-1][1]["dnd_until"] is None


@pytest.mark.django_db(transaction=True)
def test_dnd_ends_that_cannot_be_are_refused(bob, frames):
    assert refused(set_dnd, user=bob, until=NOW - timedelta(seconds=1), now=NOW) == "in_the_past"
    assert refused(set_dnd, user=bob, until=NOW + timedelta(days=400), now=NOW) == "too_far_ahead"
    assert refused(set_dnd, user=bob, until=MUTED_FOREVER, now=NOW) == "bad_request"
    bob.refresh_from_db()
    assert bob.dnd_until is None
    assert frames == []


@pytest.mark.django_db(transaction=True)
def test_desktop_preferences_change_one_at_a_time_or_both(bob, frames):
    set_desktop(user=bob, sound=True)
    bob.refresh_from_db()
    assert (bob.desktop_notifications, bob.notification_sound) == (True, True)
    set_desktop(user=bob, desktop=False, sound=False)
    bob.refresh_from_db()
    assert (bob.desktop_notifications, bob.notification_sound) == (False, False)
    assert [f["notification_sound"] for _, f in frames] == [True, False]
    assert refused(set_desktop, user=bob) == "bad_request"


@pytest.mark.django_db(transaction=True)
def test_nothing_is_sent_when_the_write_is_rolled_back(room, bob, frames):
    with pytest.raises(RuntimeError), transaction.atomic():
        set_notify_level(user=bob, room_id=room.id, level="all")
        raise RuntimeError("the caller's transaction fails")
    assert frames == []
    assert membership(bob, room).notify_level == "mentions"


# --- the endpoints -------------------------------------------------------------------------------


def logged_in(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def post_json(client, url: str, body: dict):
    return client.post(url, json.dumps(body), content_type="application/json", HTTP_ACCEPT="application/json")


@pytest.mark.django_db(transaction=True)
def test_a_room_is_set_by_json_and_answered_with_its_state(client, room, bob, frames):
    logged_in(client, bob)
    url = reverse("notify_room_settings", args=[room.id])
    before = timezone.now()

    answer = post_json(client, url, {"notify_level": "all", "mute": "1h"})

    assert answer.status_code == 200
    body = answer.json()
    assert (body["room"], body["notify_level"]) == (room.id, "all")
    muted = datetime.fromisoformat(body["muted_until"])
    assert before + timedelta(hours=1) <= muted <= timezone.now() + timedelta(hours=1)
    assert membership(bob, room).muted_until == muted
    assert frames[-1][1] == {"type": "room.settings", **body}

    forever = post_json(client, url, {"mute": "forever"}).json()
    assert datetime.fromisoformat(forever["muted_until"]) == MUTED_FOREVER
    assert forever["notify_level"] == "all"
    off = post_json(client, url, {"mute": "off"}).json()
    assert off == {"room": room.id, "notify_level": "all", "muted_until": None}
    at = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    iso = post_json(client, url, {"mute": at.isoformat()}).json()
    assert datetime.fromisoformat(iso["muted_until"]) == at


@pytest.mark.django_db(transaction=True)
def test_tomorrow_and_a_custom_time_are_the_browsers_own(client, room, bob, frames):
    logged_in(client, bob)
    url = reverse("notify_room_settings", args=[room.id])

    # A form's datetime-local value, in the zone the script said.
    later = timezone.localtime(timezone.now() + timedelta(days=3), ZoneInfo("Asia/Tokyo"))
    local = later.strftime("%Y-%m-%dT%H:%M")
    body = post_json(client, url, {"mute": "custom", "at": local, "tz": "Asia/Tokyo"}).json()
    assert datetime.fromisoformat(body["muted_until"]) == datetime.fromisoformat(local).replace(
        tzinfo=ZoneInfo("Asia/Tokyo")
    )
    # tomorrow at 9:00 where the browser is (an offset: minutes behind UTC, as getTimezoneOffset).
    body = post_json(client, url, {"mute": "tomorrow", "tz_offset": "-540"}).json()
    tokyo = datetime.fromisoformat(body["muted_until"]).astimezone(ZoneInfo("Asia/Tokyo"))
    assert (tokyo.hour, tokyo.minute) == (9, 0)
    today = timezone.localtime(timezone.now(), ZoneInfo("Asia/Tokyo")).date()
    assert tokyo.date() == today + timedelta(days=1)


@pytest.mark.django_db(transaction=True)
def test_the_room_endpoints_refusals_have_their_codes(client, room, secret, bob, dave, frames):
    logged_in(client, bob)
    url = reverse("notify_room_settings", args=[room.id])
    cases = [
        (url, {"notify_level": "loud"}, 400, "bad_request"),
        (url, {}, 400, "bad_request"),
        (url, {"mute": "someday"}, 400, "bad_request"),
        (url, {"mute": "custom"}, 400, "bad_request"),
        (url, {"mute": "1h", "tz_offset": "lots"}, 400, "bad_request"),
        (url, {"mute": "2020-01-01T09:00:00+00:00"}, 400, "in_the_past"),
        (url, {"mute": (timezone.now() + timedelta(days=500)).isoformat()}, 400, "too_far_ahead"),
        (reverse("notify_room_settings", args=[secret.id]), {"notify_level": "all"}, 404, "not_found"),
        (reverse("notify_room_settings", args=[999_999]), {"notify_level": "all"}, 404, "not_found"),
    ]
    for target, body, status, code in cases:
        answer = post_json(client, target, body)
        assert (answer.status_code, answer.json()["code"]) == (status, code), body
        assert answer.json()["detail"]
    assert post_json(client, url, {"mute": "2099-01-01T09:00:00+00:00"}).json()["max_days"] == 365
    logged_in(client, dave)
    answer = post_json(client, url, {"notify_level": "all"})
    assert (answer.status_code, answer.json()["code"]) == (403, "not_member")
    stored = membership(bob, room)
    assert (stored.notify_level, stored.muted_until) == ("mentions", None)
    assert frames == []
    assert client.get(url).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_the_forms_work_without_javascript(client, room, secret, bob, carol, frames):
    logged_in(client, bob)
    url = reverse("notify_room_settings", args=[room.id])
    back = reverse("room", args=[room.slug])

    answer = client.post(url, {"mute": "forever", "next": back, "csrfmiddlewaretoken": "x"})
    assert (answer.status_code, answer["Location"]) == (302, back)
    assert membership(bob, room).is_muted(NOW + timedelta(days=999))
    page = client.get(back)
    assert "general: notify for mentions; muted until you unmute it." in page.content.decode()

    # A refusal comes back as a message on the page it came from; a room one may not see is a 404.
    answer = client.post(url, {"mute": "custom", "at": "2020-01-01T09:00", "next": back}, follow=True)
    assert "Not saved: That time has passed" in answer.content.decode()
    assert (
        client.post(reverse("notify_room_settings", args=[secret.id]), {"notify_level": "all"}).status_code
        == 404
    )
    # Somewhere else is never where it goes back to.
    answer = client.post(url, {"notify_level": "all", "next": "https://evil.example/"})
    assert answer["Location"] == reverse("notify_settings")

    answer = client.post(reverse("notify_dnd"), {"until": "2h"})
    assert answer.status_code == 302
    bob.refresh_from_db()
    assert bob.in_dnd(timezone.now() + timedelta(minutes=119))
    page = client.get(reverse("notify_settings")).content.decode()
    assert "Do not disturb until" in page
    # The header's "End" has no next: it goes back to the page it was on.
    answer = client.post(reverse("notify_dnd"), {"until": "off"}, HTTP_REFERER="http://testserver/threads/")
    assert answer["Location"] == "http://testserver/threads/"
    bob.refresh_from_db()
    assert bob.dnd_until is None

    answer = client.post(
        reverse("notify_desktop"), {"desktop_notifications": ["0"], "notification_sound": ["0", "1"]}
    )
    assert answer.status_code == 302
    bob.refresh_from_db()
    assert (bob.desktop_notifications, bob.notification_sound) == (False, True)


@pytest.mark.django_db(transaction=True)
def test_dnd_and_desktop_answer_json_with_the_persons_preferences(client, bob, frames):
    logged_in(client, bob)
    url = reverse("notify_dnd")
    body = post_json(client, url, {"until": "30m"}).json()
    assert set(body) == {"dnd_until", "desktop_notifications", "notification_sound"}
    assert timezone.now() + timedelta(minutes=29) < datetime.fromisoformat(body["dnd_until"])
    assert frames[-1][1] == {"type": "notify.settings", **body}

    body = post_json(client, url, {"until": "tomorrow", "tz": "America/New_York"}).json()
    local = datetime.fromisoformat(body["dnd_until"]).astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)
    assert post_json(client, url, {"until": "off"}).json()["dnd_until"] is None

    for bad, code in (
        ({"until": "forever"}, "bad_request"),
        ({}, "bad_request"),
        ({"until": "2020-01-01T00:00Z"}, "in_the_past"),
    ):
        answer = post_json(client, url, bad)
        assert (answer.status_code, answer.json()["code"]) == (400, code)

    desktop = reverse("notify_desktop")
    body = post_json(client, desktop, {"desktop_notifications": False, "notification_sound": True}).json()
    assert body["desktop_notifications"] is False and body["notification_sound"] is True
    answer = post_json(client, desktop, {"desktop_notifications": "maybe"})
    assert (answer.status_code, answer.json()["code"]) == (400, "bad_request")
    # A script's form post (X-Requested-With) is answered JSON too.
    answer = client.post(desktop, {"notification_sound": "0"}, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert answer.json()["notification_sound"] is False


@pytest.mark.django_db
def test_the_settings_page_lists_every_room_with_its_state_and_answers_json(client, room, secret, bob, carol):
    Membership.objects.filter(user=carol, room=room).update(notify_level="all")
    Membership.objects.filter(user=carol, room=secret).update(muted_until=MUTED_FOREVER)
    logged_in(client, carol)

    page = client.get(reverse("notify_settings"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "#general" in text and "secret" in text
    assert "until you unmute" in text
    assert text.count('class="notify-room"') == 2

    body = client.get(reverse("notify_settings"), HTTP_ACCEPT="application/json").json()
    assert body == {
        "dnd_until": None,
        "desktop_notifications": True,
        "notification_sound": False,
        "rooms": {
            str(room.id): {"notify_level": "all", "muted_until": None, "direct": False},
            str(secret.id): {
                "notify_level": "mentions",
                "muted_until": MUTED_FOREVER.isoformat(),
                "direct": False,
            },
        },
    }
    client.logout()
    assert client.get(reverse("notify_settings")).status_code == 302


@pytest.mark.django_db
def test_the_room_page_has_the_menu_the_header_the_dnd_and_the_sidebar_the_mute(client, room, bob):
    logged_in(client, bob)
    page = client.get(reverse("room", args=[room.slug])).content.decode()
    assert 'id="notify-menu"' in page and 'data-muted-until=""' in page
    assert '<div id="dnd-indicator" class="dnd-indicator" data-dnd-until="" hidden>' in page
    assert "muted-room" not in page.split('id="sidebar"')[1].split("<template")[0]

    end = timezone.now() + timedelta(hours=3)
    Membership.objects.filter(user=bob, room=room).update(muted_until=end)
    bob.dnd_until = end
    bob.save(update_fields=["dnd_until"])
    page = client.get(reverse("room", args=[room.slug])).content.decode()
    assert f'data-muted-until="{end.isoformat()}"' in page
    assert f'<div id="dnd-indicator" class="dnd-indicator" data-dnd-until="{end.isoformat()}">' in page
    sidebar = page.split('id="sidebar"')[1].split("<template")[0]
    assert 'class="muted-room"' in sidebar  # the open room: current, and muted
    # Past their ends, they are over by themselves: the page says neither.
    Membership.objects.filter(user=bob, room=room).update(muted_until=timezone.now() - timedelta(seconds=1))
    bob.dnd_until = timezone.now() - timedelta(seconds=1)
    bob.save(update_fields=["dnd_until"])
    page = client.get(reverse("room", args=[room.slug])).content.decode()
    assert 'data-dnd-until="" hidden' in page
    assert "muted-room" not in page.split('id="sidebar"')[1].split("<template")[0]
    assert 'data-muted-until=""' in page
    assert reverse("notify_settings") in client.get(reverse("profile")).content.decode()


# --- the live frames -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_every_socket_of_the_user_follows_and_no_one_elses(connect, room, alice, bob):
    bob_phone, bob_laptop, alice_tab = await connect(bob), await connect(bob), await connect(alice)

    await database_sync_to_async(mute_room)(user=bob, room_id=room.id, until=MUTED_FOREVER)
    for tab in (bob_phone, bob_laptop):
        frame = await tab.receive_type("room.settings")
        check_frame(frame, SETTINGS_FRAMES)
        assert (frame["room"], datetime.fromisoformat(frame["muted_until"])) == (room.id, MUTED_FOREVER)

    end = timezone.now() + timedelta(hours=1)
    await database_sync_to_async(set_dnd)(user=bob, until=end)
    for tab in (bob_phone, bob_laptop):
        frame = await tab.receive_type("notify.settings")
        check_frame(frame, SETTINGS_FRAMES)
        assert datetime.fromisoformat(frame["dnd_until"]) == end
    await alice_tab.assert_nothing_more()


@pytest.mark.django_db
def test_a_direct_conversation_is_listed_by_its_other_people_and_can_be_muted(client, alice, bob, carol):
    from messaging.models import ChatRoom

    direct = ChatRoom.objects.create(
        kind="direct", direct_key=f"{alice.id}-{bob.id}-{carol.id}", is_private=True, name="dm", slug="dm-1"
    )
    for person in (alice, bob, carol):
        Membership.objects.create(user=person, room=direct)
    mute_room(user=bob, room_id=direct.id, until=NOW + timedelta(hours=1), now=NOW)

    rows = preferences.room_preferences(user=bob, now=NOW)
    assert [(row.name, row.room.is_direct, row.muted_until) for row in rows] == [
        ("Alice, Carol", True, NOW + timedelta(hours=1))
    ]
    logged_in(client, bob)
    assert "Alice, Carol" in client.get(reverse("notify_settings")).content.decode()
    rooms = client.get(reverse("notify_settings"), HTTP_ACCEPT="application/json").json()["rooms"]
    assert rooms[str(direct.id)]["direct"] is True
