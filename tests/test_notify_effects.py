"""What notify levels, mutes (timed ones end by the clock) and do-not-disturb do to the
notifications a message makes, to their `alert`, and to missed-message emails; every message in
a direct conversation notifies its other participants. Time is passed in, never slept for."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.models import OutboundEmail
from messaging.actions.messages import post_message, send_message
from messaging.models import MUTED_FOREVER, Membership
from notifications.actions import make_pending_notifications
from notifications.digest import send_missed_emails
from notifications.models import Notification

from .group_data import direct_conversation

User = get_user_model()


def notified(message) -> dict[str, str]:
    return dict(Notification.objects.filter(message=message).values_list("recipient__username", "kind"))


def set_level(user, room, level: str) -> None:
    Membership.objects.filter(user=user, room=room).update(notify_level=level)


def mute(user, room, until) -> None:
    Membership.objects.filter(user=user, room=room).update(muted_until=until)


def step(message, now) -> list[dict]:
    """The notification step of one posted message, as of `now`; its frames, by recipient."""
    return [
        {"to": recipient, **json.loads(frame)}
        for recipient, frame in make_pending_notifications(message_ids=[message.id], now=now)
    ]


def post(author, room, body: str, client_id: str):
    return post_message(author=author, room_id=room.id, body=body, client_id=client_id).message


# --- Levels -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_level_nothing_stops_every_notification_from_the_room(room, alice, bob, carol):
    set_level(bob, room, "nothing")
    for body, cid in [("@bob look", "m1"), ("@room look", "m2"), ("@here look", "m3")]:
        message = send_message(author=alice, room_id=room.id, body=body, client_id=cid).message
        assert "bob" not in notified(message), body


@pytest.mark.django_db
def test_level_nothing_stops_followed_thread_replies_too(room, alice, bob, carol):
    root = send_message(author=bob, room_id=room.id, body="a thread", client_id="r").message
    set_level(bob, room, "nothing")
    reply = send_message(author=carol, room_id=room.id, body="a reply", client_id="c1", thread_root=root.seq)
    assert "bob" not in notified(reply.message)
    set_level(bob, room, "mentions")
    again = send_message(author=carol, room_id=room.id, body="another", client_id="c2", thread_root=root.seq)
    assert notified(again.message).get("bob") == "reply"


@pytest.mark.django_db
@pytest.mark.parametrize("level", ["all", "mentions"])
def test_levels_all_and_mentions_get_mentions_and_group_mentions(room, alice, bob, level):
    set_level(bob, room, level)
    assert notified(send_message(author=alice, room_id=room.id, body="@bob", client_id="1").message) == {
        "bob": "mention"
    }
    assert notified(send_message(author=alice, room_id=room.id, body="@room", client_id="2").message)[
        "bob"
    ] == ("group")
    # "all" pops every message up in the client: no row for a plain message at any level.
    assert notified(send_message(author=alice, room_id=room.id, body="plain", client_id="3").message) == {}


# --- Mutes ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_muted_room_gets_no_group_mention_but_a_direct_mention_still_notifies(room, alice, bob):
    now = timezone.now()
    mute(bob, room, MUTED_FOREVER)
    assert "bob" not in notified(
        send_message(author=alice, room_id=room.id, body="@room", client_id="1").message
    )
    assert notified(send_message(author=alice, room_id=room.id, body="@bob", client_id="2").message) == {
        "bob": "mention"
    }
    mute(bob, room, None)
    assert bob.id in {f["to"] for f in step(post(alice, room, "@room", "3"), now)}


@pytest.mark.django_db
def test_a_timed_mute_ends_by_itself_as_the_clock_passes_it(room, alice, bob, carol):
    now = timezone.now()
    mute(bob, room, now + timedelta(hours=1))
    during = post(alice, room, "@room during the mute", "1")
    assert {f["to"] for f in step(during, now + timedelta(minutes=59))} == {carol.id}
    after = post(alice, room, "@room after the mute", "2")
    assert {f["to"] for f in step(after, now + timedelta(minutes=61))} == {bob.id, carol.id}
    assert Membership.objects.get(user=bob, room=room).is_muted(now + timedelta(minutes=59))
    assert not Membership.objects.get(user=bob, room=room).is_muted(now + timedelta(minutes=61))


# --- Do not disturb ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_dnd_makes_notifications_as_ever_but_they_do_not_alert_until_it_ends(room, alice, bob, carol):
    now = timezone.now()
    User.objects.filter(pk=bob.pk).update(dnd_until=now + timedelta(hours=2))
    during = [
        f
        for f in step(post(alice, room, "@bob and @room", "1"), now + timedelta(hours=1))
        if f["to"] == bob.id
    ]
    assert [(f["notification"]["kind"], f["alert"]) for f in during] == [("mention", False)]
    group = [f for f in step(post(alice, room, "@room again", "2"), now + timedelta(hours=1))]
    assert {(f["to"], f["alert"]) for f in group} == {(bob.id, False), (carol.id, True)}
    after = step(post(alice, room, "@bob later", "3"), now + timedelta(hours=3))
    assert [(f["to"], f["alert"]) for f in after] == [(bob.id, True)]
    # Nothing is lost: every one is on the notifications page.
    assert Notification.objects.filter(recipient=bob).count() == 3


@pytest.mark.django_db
def test_dnd_quiets_reply_notifications_too(room, alice, bob, carol):
    now = timezone.now()
    root = send_message(author=bob, room_id=room.id, body="a thread", client_id="r").message
    User.objects.filter(pk=bob.pk).update(dnd_until=now + timedelta(hours=1))
    reply = post_message(author=carol, room_id=room.id, body="a reply", client_id="c1", thread_root=root.seq)
    frames = [f for f in step(reply.message, now) if f["to"] == bob.id and f["type"] == "notification.new"]
    assert [(f["notification"]["kind"], f["alert"]) for f in frames] == [("reply", False)]


# --- Direct conversations ---------------------------------------------------------------------


@pytest.mark.django_db
def test_every_message_in_a_direct_conversation_notifies_the_other_participants(alice, bob, carol):
    dm = direct_conversation(alice, bob, carol)
    for i in range(3):
        message = send_message(author=alice, room_id=dm.id, body=f"message {i}", client_id=f"d{i}").message
        assert notified(message) == {"bob": "direct", "carol": "direct"}
    answer = send_message(author=bob, room_id=dm.id, body="hi", client_id="b1").message
    assert notified(answer) == {"alice": "direct", "carol": "direct"}


@pytest.mark.django_db
def test_a_muted_direct_conversation_still_notifies_but_nothing_does_not(alice, bob, carol):
    dm = direct_conversation(alice, bob, carol)
    mute(bob, dm, MUTED_FOREVER)
    set_level(carol, dm, "nothing")
    message = send_message(author=alice, room_id=dm.id, body="still there?", client_id="d1").message
    assert notified(message) == {"bob": "direct"}


@pytest.mark.django_db
def test_direct_notifications_are_one_insert_and_their_frames_say_direct(alice, bob, carol):
    dm = direct_conversation(alice, bob, carol)
    message = post(alice, dm, "lunch?", "d1")
    frames = step(message, timezone.now())
    assert {f["to"] for f in frames} == {bob.id, carol.id}
    for frame in frames:
        assert frame["notification"]["kind"] == "direct"
        assert frame["notification"]["message"]["body"] == "lunch?"
        assert frame["alert"] is True


# --- Missed-message emails --------------------------------------------------------------------


@pytest.fixture
def bob_by_email(bob):
    bob.email = "bob@example.com"
    bob.email_verified_at = timezone.now()
    bob.missed_email_minutes = 10
    bob.save()
    return bob


def sent() -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(key__startswith="missed:").order_by("pk"))


@pytest.mark.django_db(transaction=True)
def test_direct_messages_and_group_mentions_are_emailed_when_missed(
    room, alice, bob_by_email, carol, settings
):
    settings.PARLEY = {**settings.PARLEY, "SITE_URL": "http://testserver"}
    dm = direct_conversation(alice, bob_by_email, carol)
    send_message(author=alice, room_id=dm.id, body="are you coming?", client_id="d1")
    send_message(author=alice, room_id=room.id, body="@room release frozen", client_id="r1")
    assert send_missed_emails(timezone.now() + timedelta(minutes=11)) == 1
    [email] = sent()
    assert "are you coming?" in email.text and "@room release frozen" in email.text
    assert "Direct message with Alice, Carol" in email.text
    assert email.subject.startswith("2 missed messages in Parley:")


@pytest.mark.django_db(transaction=True)
def test_missed_emails_wait_for_dnd_to_end(room, alice, bob_by_email):
    now = timezone.now()
    User.objects.filter(pk=bob_by_email.pk).update(dnd_until=now + timedelta(hours=1))
    send_message(author=alice, room_id=room.id, body="@bob ping", client_id="m1")
    assert send_missed_emails(now + timedelta(minutes=30)) == 0, "in do-not-disturb"
    assert send_missed_emails(now + timedelta(minutes=61)) == 1, "at its end"
    assert len(sent()) == 1


@pytest.mark.django_db
def test_the_notifications_page_shows_group_mentions_and_direct_messages(client, room, alice, bob, carol):
    dm = direct_conversation(alice, bob)
    send_message(author=alice, room_id=room.id, body="@room coffee?", client_id="r1")
    send_message(author=alice, room_id=dm.id, body="just between us", client_id="d1")
    client.force_login(bob)
    page = client.get("/notifications/").content.decode()
    assert "sent you a direct message" in page and "just between us" in page
    assert "notified @room in <strong>general</strong>" in page and "@room coffee?" in page
