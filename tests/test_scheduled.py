"""Scheduled messages: scheduling, editing and cancelling with their limits and refusals; the
sweep that sends each once through the message path (live to every member, mentions notify);
failures shown to the author; the page and its JSON."""

import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from channels.db import database_sync_to_async
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from messaging.actions.messages import send_message
from messaging.actions.rooms import create_room, join_room, leave_room
from messaging.errors import ParleyError
from messaging.models import ChatMessage, ChatRoom
from notifications.models import Notification
from scheduled.actions import (
    cancel_scheduled_message,
    edit_scheduled_message,
    prune_finished,
    schedule_message,
    send_due_messages,
)
from scheduled.models import ScheduledMessage
from scheduled.selectors import room_indicator, scheduled_messages

from .chat import PASSWORD
from .worker import a_session_waits_on_a_lock, another_session_holding

NOW = timezone.now().replace(microsecond=0)
HOUR = timedelta(hours=1)
State = ScheduledMessage.State


def code_of(call, **kwargs) -> str:
    with pytest.raises(ParleyError) as refused:
        call(**kwargs)
    return refused.value.code


def later(author, room, body="later", *, hours=1, **kwargs) -> ScheduledMessage:
    return schedule_message(
        author=author, room_id=room.id, body=body, send_at=NOW + hours * HOUR, now=NOW, **kwargs
    )


# --- scheduling, editing, cancelling ----------------------------------------------------------


@pytest.mark.django_db
def test_scheduling_keeps_the_cleaned_body_pending_until_its_time(room, alice):
    scheduled = later(alice, room, "  hello\r\nteam  ")

    assert scheduled.state == State.PENDING
    assert scheduled.body == "hello\nteam"
    assert scheduled.send_at == NOW + HOUR
    assert scheduled.client_id == f"scheduled-{scheduled.pk}"
    assert ChatMessage.objects.count() == 0
    assert send_due_messages(NOW) == 0
    assert send_due_messages(NOW + HOUR - timedelta(seconds=1)) == 0
    assert ChatMessage.objects.count() == 0


@pytest.mark.django_db
def test_scheduling_refusals_have_stable_codes(room, alice, bob, dave, settings):
    private = create_room(creator=bob, name="secret", is_private=True)
    public = create_room(creator=bob, name="open")
    archived = create_room(creator=alice, name="old")
    ChatRoom.objects.filter(pk=archived.pk).update(archived_at=NOW)
    root = send_message(author=alice, room_id=room.id, body="root", client_id="root").message
    reply = send_message(author=alice, room_id=room.id, body="r", client_id="r", thread_root=root.seq).message
    at = NOW + HOUR

    def attempt(**changes):
        fields = {"author": alice, "room_id": room.id, "body": "hi", "send_at": at, "now": NOW, **changes}
        return code_of(schedule_message, **fields)

    assert attempt(body=" \u200b ") == "bad_request"
    assert attempt(body="x" * (settings.PARLEY["MAX_BODY_CHARS"] + 1)) == "too_large"
    assert attempt(body="nul\x00") == "bad_request"
    assert attempt(send_at=NOW) == "send_at_in_past"
    assert attempt(send_at=NOW - HOUR) == "send_at_in_past"
    assert attempt(send_at=NOW + timedelta(days=365, seconds=1)) == "send_at_too_far"
    assert attempt(send_at=(NOW + HOUR).replace(tzinfo=None)) == "bad_request"
    assert attempt(room_id=private.id) == "not_found"  # the same as a room that does not exist
    assert attempt(room_id=999_999) == "not_found"
    assert attempt(room_id=public.id) == "not_member"
    assert attempt(author=dave) == "not_member"
    assert attempt(room_id=archived.id) == "bad_request"
    assert attempt(thread_root=999) == "no_such_message"
    assert attempt(thread_root=reply.seq) == "thread_depth"
    assert attempt(also_in_room=True) == "bad_request"
    alice.is_active = False
    alice.save()
    assert attempt() == "unauthenticated"
    assert ScheduledMessage.objects.count() == 0
    # A year ahead to the second is still allowed.
    assert schedule_message(author=bob, room_id=room.id, body="x", send_at=NOW + timedelta(days=365), now=NOW)


@pytest.mark.django_db
def test_pending_messages_per_person_are_limited(room, alice, bob, settings):
    settings.PARLEY = {**settings.PARLEY, "SCHEDULED_MAX_PENDING": 3}
    first = [later(alice, room, f"m{i}") for i in range(3)]

    with pytest.raises(ParleyError) as refused:
        later(alice, room, "one too many")
    assert refused.value.code == "too_many_scheduled"
    assert refused.value.extra() == {"limit": 3}
    assert later(bob, room, "bob's own count")  # per person
    cancel_scheduled_message(author=alice, scheduled_id=first[0].pk)
    assert later(alice, room, "room again")
    assert ScheduledMessage.objects.filter(author=alice, state=State.PENDING).count() == 3


@pytest.mark.django_db
def test_editing_changes_body_and_time_until_sent(room, alice, bob):
    scheduled = later(alice, room, "draft")

    edited = edit_scheduled_message(author=alice, scheduled_id=scheduled.pk, body=" final ", now=NOW)
    assert (edited.body, edited.send_at) == ("final", NOW + HOUR)
    edited = edit_scheduled_message(author=alice, scheduled_id=scheduled.pk, send_at=NOW + 3 * HOUR, now=NOW)
    assert (edited.body, edited.send_at) == ("final", NOW + 3 * HOUR)
    assert send_due_messages(NOW + 2 * HOUR) == 0  # moved later: not due at its old time

    edit = edit_scheduled_message
    assert code_of(edit, author=bob, scheduled_id=scheduled.pk, body="mine now") == "no_such_scheduled"
    assert code_of(edit, author=alice, scheduled_id=999_999, body="x") == "no_such_scheduled"
    assert code_of(edit, author=alice, scheduled_id=scheduled.pk, body=" ") == "bad_request"
    assert (
        code_of(edit, author=alice, scheduled_id=scheduled.pk, send_at=NOW - HOUR, now=NOW)
        == "send_at_in_past"
    )

    assert send_due_messages(NOW + 3 * HOUR) == 1
    assert code_of(edit, author=alice, scheduled_id=scheduled.pk, body="too late") == "already_sent"
    assert code_of(cancel_scheduled_message, author=alice, scheduled_id=scheduled.pk) == "already_sent"
    assert ChatMessage.objects.get().body == "final"


@pytest.mark.django_db
def test_cancelled_messages_are_never_sent_nor_listed(room, alice, bob):
    kept, cancelled = later(alice, room, "kept"), later(alice, room, "cancelled")

    assert cancel_scheduled_message(author=alice, scheduled_id=cancelled.pk).state == State.CANCELLED
    assert (
        cancel_scheduled_message(author=alice, scheduled_id=cancelled.pk).state == State.CANCELLED
    )  # again: no-op
    assert code_of(cancel_scheduled_message, author=bob, scheduled_id=kept.pk) == "no_such_scheduled"
    edit = edit_scheduled_message
    assert code_of(edit, author=alice, scheduled_id=cancelled.pk, body="back") == "not_pending"

    assert send_due_messages(NOW + 2 * HOUR) == 1
    assert list(ChatMessage.objects.values_list("body", flat=True)) == ["kept"]
    listed = scheduled_messages(user=alice, now=NOW + 2 * HOUR)
    assert ([s.pk for s in listed.pending], [s.pk for s in listed.sent], listed.failed) == ([], [kept.pk], [])


# --- sending ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_due_message_is_sent_once_as_the_rooms_next_message(
    room, alice, bob, django_capture_on_commit_callbacks
):
    send_message(author=bob, room_id=room.id, body="before", client_id="b1")
    scheduled = later(alice, room, "on time")

    with django_capture_on_commit_callbacks() as published:
        assert send_due_messages(NOW + HOUR) == 1
    assert send_due_messages(NOW + HOUR) == 0
    assert send_due_messages(NOW + 2 * HOUR) == 0

    scheduled.refresh_from_db()
    message = ChatMessage.objects.get(client_id=scheduled.client_id)
    assert (scheduled.state, scheduled.sent_message_id, scheduled.finished_at) == (
        State.SENT,
        message.pk,
        NOW + HOUR,
    )
    assert (message.seq, message.author_id, message.body) == (2, alice.pk, "on time")
    assert ChatMessage.objects.count() == 2
    assert len(published) == 1  # the publish and the notifications, after the commit


@pytest.mark.django_db
def test_a_rerun_that_finds_the_message_stored_stores_nothing_new(room, alice):
    """Belt and braces under the sent mark: were a row ever pending again after its message
    was stored, the client_id answers with the stored message."""
    scheduled = later(alice, room, "once")
    assert send_due_messages(NOW + HOUR) == 1
    ScheduledMessage.objects.filter(pk=scheduled.pk).update(
        state=State.PENDING, sent_message=None, finished_at=None
    )

    assert send_due_messages(NOW + HOUR) == 1
    scheduled.refresh_from_db()
    assert ChatMessage.objects.count() == 1
    assert scheduled.sent_message == ChatMessage.objects.get()


@pytest.mark.django_db
def test_a_scheduled_reply_goes_to_its_thread(room, alice, bob):
    root = send_message(author=bob, room_id=room.id, body="question", client_id="q").message
    later(alice, room, "answer", thread_root=root.seq)
    later(alice, room, "answer for all", thread_root=root.seq, also_in_room=True, hours=2)

    assert send_due_messages(NOW + 2 * HOUR) == 2
    replies = ChatMessage.objects.filter(thread_root=root).order_by("seq")
    assert [(m.body, m.in_room) for m in replies] == [("answer", False), ("answer for all", True)]
    root.refresh_from_db()
    assert root.reply_count == 2


@pytest.mark.django_db
def test_refused_at_its_time_it_is_marked_failed_with_why(room, alice, bob, carol):
    left = later(bob, room, "bob left")
    archived_room = create_room(creator=carol, name="closing")
    archived = later(carol, archived_room, "room archived")
    root = send_message(author=alice, room_id=room.id, body="root", client_id="root").message
    gone_root = later(alice, room, "reply to a deleted root", thread_root=root.seq)
    fine = later(alice, room, "still sent")
    leave_room(user=bob, room=room)
    ChatRoom.objects.filter(pk=archived_room.pk).update(archived_at=NOW)
    ChatMessage.objects.filter(pk=root.pk).update(deleted_at=NOW, body="")

    assert send_due_messages(NOW + HOUR) == 1

    failed = {s.pk: s for s in ScheduledMessage.objects.filter(state=State.FAILED)}
    assert set(failed) == {left.pk, archived.pk, gone_root.pk}
    assert (failed[left.pk].failure_code, failed[left.pk].failure_detail) == (
        "not_member",
        "You are no longer a member of this room.",
    )
    assert failed[archived.pk].failure_code == "bad_request"
    assert "archived" in failed[archived.pk].failure_detail
    assert failed[gone_root.pk].failure_code == "message_deleted"
    assert all(s.sent_message_id is None and s.finished_at == NOW + HOUR for s in failed.values())
    assert list(
        ChatMessage.objects.filter(client_id__startswith="scheduled-").values_list("body", flat=True)
    ) == ["still sent"]
    assert ScheduledMessage.objects.get(pk=fine.pk).state == State.SENT
    # The author sees it: on the list and in the room's indicator.
    assert [s.pk for s in scheduled_messages(user=bob).failed] == [left.pk]
    assert room_indicator(user=bob, room_id=room.id) == {"pending": 0, "failed": 1}
    assert send_due_messages(NOW + 2 * HOUR) == 0  # failed stays failed


@pytest.mark.django_db
def test_a_failed_message_can_be_rescheduled_or_dismissed(room, alice, bob):
    scheduled = later(bob, room, "when I am back")
    leave_room(user=bob, room=room)
    send_due_messages(NOW + HOUR)
    edit = edit_scheduled_message
    at = NOW + 3 * HOUR

    assert code_of(edit, author=bob, scheduled_id=scheduled.pk, send_at=at, now=NOW) == "not_member"
    assert code_of(edit, author=bob, scheduled_id=scheduled.pk, body="no time", now=NOW) == "bad_request"
    join_room(user=bob, room=room)
    again = edit(author=bob, scheduled_id=scheduled.pk, send_at=at, now=NOW)
    assert (again.state, again.failure_code, again.finished_at) == (State.PENDING, "", None)
    assert send_due_messages(at) == 1
    assert ChatMessage.objects.get().body == "when I am back"

    other = later(bob, room, "never mind")
    leave_room(user=bob, room=room)
    send_due_messages(NOW + HOUR)
    assert cancel_scheduled_message(author=bob, scheduled_id=other.pk).state == State.CANCELLED
    assert room_indicator(user=bob, room_id=room.id) == {"pending": 0, "failed": 0}


# --- live: sockets and notifications ---------------------------------------------------------

live = pytest.mark.django_db(transaction=True)


@live
async def test_a_sent_scheduled_message_reaches_open_sockets_live_and_its_mentions_notify(
    connect, room, alice, bob, carol
):
    b, c = await connect(bob), await connect(carol)
    await database_sync_to_async(send_message)(author=carol, room_id=room.id, body="first", client_id="c1")
    for client in (b, c):
        await client.receive_messages(1)
    scheduled = await database_sync_to_async(later)(alice, room, "Stand-up in 5, @bob")

    assert await database_sync_to_async(send_due_messages)(NOW + HOUR) == 1

    for client in (b, c):
        (message,) = await client.receive_messages(1)
        assert message["seq"] == 2
        assert message["client_id"] == f"scheduled-{scheduled.pk}"
        assert message["author"]["username"] == "alice"
        assert message["mentions"] == ["bob"]
    notification = (await b.receive_type("notification.new"))["notification"]
    assert notification["message"]["client_id"] == f"scheduled-{scheduled.pk}"
    assert await database_sync_to_async(send_due_messages)(NOW + HOUR) == 0
    await b.assert_nothing_more()
    await c.assert_nothing_more()
    assert await Notification.objects.filter(recipient=bob).acount() == 1
    assert await ChatMessage.objects.acount() == 2


DUE = 30


@live
def test_two_sweeps_at_once_send_each_message_once(room, alice, bob):
    """Two workers' sweeps at the same moment (PostgreSQL: rows claimed with SKIP LOCKED; SQLite:
    one write transaction at a time): 30 due messages, each sent once, seq 1 to 30."""
    for i in range(DUE):
        later(alice if i % 2 else bob, room, f"m{i}")
    start = threading.Barrier(2)
    counts: list[int] = []

    def sweep():
        try:
            start.wait()
            counts.append(send_due_messages(NOW + HOUR))
        finally:
            connections.close_all()

    workers = [threading.Thread(target=sweep) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert sum(counts) == DUE, counts
    messages = list(ChatMessage.objects.order_by("seq"))
    assert [m.seq for m in messages] == list(range(1, DUE + 1))
    assert sorted(m.body for m in messages) == sorted(f"m{i}" for i in range(DUE))
    assert ScheduledMessage.objects.filter(state=State.SENT).count() == DUE
    assert connection.vendor in ("sqlite", "postgresql")


# --- the page and its JSON --------------------------------------------------------------------


def logged_in(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    assert client.login(username=user.username, password=PASSWORD)
    return client


JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.mark.django_db
def test_scheduling_over_json_answers_the_row_and_the_rooms_counts(room, alice):
    client = logged_in(alice)
    at = timezone.now() + 2 * HOUR

    answer = client.post(
        reverse("scheduled_create"), {"room": room.slug, "body": "hi @bob", "send_at": at.isoformat()}, **JSON
    )

    assert answer.status_code == 200
    payload = answer.json()
    scheduled = ScheduledMessage.objects.get()
    assert payload["scheduled"]["id"] == scheduled.pk
    assert payload["scheduled"]["state"] == "pending"
    assert payload["scheduled"]["body"] == "hi @bob"
    assert payload["scheduled"]["room"]["slug"] == room.slug
    assert payload["room_counts"] == {"pending": 1, "failed": 0}
    assert scheduled.send_at == at


@pytest.mark.django_db
def test_a_local_time_is_read_in_the_browsers_zone(room, alice):
    client = logged_in(alice)
    local = (
        (timezone.now() + timedelta(days=2))
        .astimezone(ZoneInfo("America/New_York"))
        .replace(hour=9, minute=0, second=0, microsecond=0, tzinfo=None)
    )
    fields = {"room": room.slug, "body": "9 in New York", "send_at": local.strftime("%Y-%m-%dT%H:%M")}

    assert (
        client.post(reverse("scheduled_create"), {**fields, "tz": "America/New_York"}, **JSON).status_code
        == 200
    )
    assert client.post(reverse("scheduled_create"), {**fields, "tz": "Mars/Olympus"}, **JSON).json()[
        "code"
    ] == ("bad_request")
    sent_at = ScheduledMessage.objects.get().send_at.astimezone(ZoneInfo("America/New_York"))
    assert (sent_at.hour, sent_at.minute) == (9, 0)


@pytest.mark.django_db
def test_json_refusals_carry_code_detail_and_status(room, alice, bob, dave):
    scheduled = later(alice, room, "x", hours=24 * 30)
    client = logged_in(alice)
    soon = (timezone.now() + HOUR).isoformat()
    create = reverse("scheduled_create")

    def refused(url, fields, user=alice):
        answer = (
            logged_in(user).post(url, fields, **JSON)
            if user is not alice
            else client.post(url, fields, **JSON)
        )
        return answer.status_code, answer.json()["code"]

    assert refused(create, {"room": room.slug, "body": "", "send_at": soon}) == (400, "bad_request")
    assert refused(create, {"room": room.slug, "body": "x", "send_at": "tomorrow"}) == (400, "bad_request")
    past = (timezone.now() - HOUR).isoformat()
    assert refused(create, {"room": room.slug, "body": "x", "send_at": past}) == (400, "send_at_in_past")
    far = (timezone.now() + timedelta(days=400)).isoformat()
    assert refused(create, {"room": room.slug, "body": "x", "send_at": far}) == (400, "send_at_too_far")
    assert refused(create, {"room": "nowhere", "body": "x", "send_at": soon}) == (404, "not_found")
    assert refused(create, {"room": room.slug, "body": "x", "send_at": soon}, user=dave) == (
        403,
        "not_member",
    )
    edit_url = reverse("scheduled_edit", args=[scheduled.pk])
    assert refused(edit_url, {"body": "theirs"}, user=bob) == (404, "no_such_scheduled")
    assert refused(edit_url, {}) == (400, "bad_request")
    send_due_messages(NOW + 24 * 31 * HOUR)
    assert refused(edit_url, {"body": "late"}) == (409, "already_sent")
    assert refused(reverse("scheduled_cancel", args=[scheduled.pk]), {}) == (409, "already_sent")


@pytest.mark.django_db
def test_every_post_needs_the_csrf_token_and_a_login(room, alice):
    scheduled = later(alice, room, "x")
    urls = [
        reverse("scheduled_create"),
        reverse("scheduled_edit", args=[scheduled.pk]),
        reverse("scheduled_cancel", args=[scheduled.pk]),
    ]
    for url in urls:
        assert logged_in(alice, csrf=True).post(url, {"body": "y"}, **JSON).status_code == 403
        assert Client().post(url, {"body": "y"}).status_code == 302  # to the log-in page
    assert Client().get(reverse("scheduled")).status_code == 302
    scheduled.refresh_from_db()
    assert (scheduled.state, scheduled.body) == (State.PENDING, "x")


@pytest.mark.django_db
def test_the_page_lists_pending_failed_and_sent_and_works_without_javascript(room, alice, bob):
    other = create_room(creator=alice, name="random")
    pending = later(alice, room, "waiting here", hours=5)
    later(alice, other, "waiting elsewhere", hours=5)
    sent = later(alice, room, "already out")
    failed = later(bob, room, "bob's")
    ScheduledMessage.objects.filter(pk=sent.pk).update(send_at=timezone.now() - HOUR)
    ScheduledMessage.objects.filter(pk=failed.pk).update(send_at=timezone.now() - HOUR)
    leave_room(user=bob, room=room)
    send_due_messages(timezone.now())
    client = logged_in(alice)

    page = client.get(reverse("scheduled")).content.decode()
    assert "waiting here" in page and "waiting elsewhere" in page
    assert "Recently sent" in page and "already out" in page
    one_room = client.get(reverse("scheduled") + f"?room={room.slug}").content.decode()
    assert "waiting here" in one_room and "waiting elsewhere" not in one_room
    bobs = logged_in(bob).get(reverse("scheduled")).content.decode()
    assert "Not sent: You are no longer a member of this room." in bobs and "waiting here" not in bobs

    # Without JavaScript: a form post, then back to the list (PRG) with what happened.
    tomorrow = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    answer = client.post(
        reverse("scheduled_edit", args=[pending.pk]),
        {"body": "changed", "send_at": tomorrow, "next": "/scheduled/"},
        follow=True,
    )
    assert answer.redirect_chain == [("/scheduled/", 302)]
    assert "Saved: it will be sent" in answer.content.decode()
    pending.refresh_from_db()
    assert pending.body == "changed"
    assert timezone.localtime(pending.send_at).strftime("%Y-%m-%dT%H:%M") == tomorrow  # read in UTC
    answer = client.post(reverse("scheduled_cancel", args=[sent.pk]), follow=True)
    assert "already been sent" in answer.content.decode()
    answer = client.post(reverse("scheduled_cancel", args=[pending.pk]), follow=True)
    assert "Scheduled message cancelled." in answer.content.decode()

    listed = client.get(reverse("scheduled") + "?format=json").json()
    assert [s["body"] for s in listed["pending"]] == ["waiting elsewhere"]
    assert [s["body"] for s in listed["sent"]] == ["already out"]
    assert listed["sent"][0]["sent_message"]["url"].endswith(f"#m{listed['sent'][0]['sent_message']['seq']}")


@pytest.mark.django_db
def test_the_room_page_has_send_later_and_the_count(room, alice):
    client = logged_in(alice)
    later(alice, room, "a")
    later(alice, room, "b")

    page = client.get(reverse("room", args=[room.slug])).content.decode()
    assert "2 scheduled" in page
    assert f'href="/scheduled/?room={room.slug}"' in page
    # The script's menu, outside the composer's form (which posts what it always has).
    assert page.index('id="send-later-template"') > page.index("</form>", page.index('id="composer"'))
    archived = create_room(creator=alice, name="old")
    ChatRoom.objects.filter(pk=archived.pk).update(archived_at=NOW)
    assert "send-later-template" not in client.get(reverse("room", args=[archived.slug])).content.decode()


@pytest.mark.django_db
def test_without_javascript_the_page_schedules_in_a_chosen_room(room, alice):
    private = create_room(creator=alice, name="mine", is_private=True)
    archived = create_room(creator=alice, name="old")
    ChatRoom.objects.filter(pk=archived.pk).update(archived_at=NOW)
    client = logged_in(alice)

    page = client.get(reverse("scheduled") + "?room=mine").content.decode()
    assert '<option value="mine" selected>mine</option>' in page
    assert '<option value="general">#general</option>' in page and 'value="old"' not in page
    at = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    answer = client.post(
        reverse("scheduled_create"),
        {
            "room": private.slug,
            "body": "from the form",
            "send_at": at,
            "tz": "",
            "next": "/scheduled/?room=mine",
        },
        follow=True,
    )
    assert answer.redirect_chain == [("/scheduled/?room=mine", 302)]
    content = answer.content.decode()
    assert "Scheduled for" in content and "UTC. See Scheduled messages." in content
    assert ScheduledMessage.objects.get().room == private
    answer = client.post(
        reverse("scheduled_create"),
        {"room": room.slug, "body": "", "send_at": at, "next": "/scheduled/"},
        follow=True,
    )
    assert "Not scheduled: The message is empty." in answer.content.decode()
    assert ScheduledMessage.objects.count() == 1


# --- with a real worker ------------------------------------------------------------------------
#
# Where a SIGKILL can land (scheduled/actions.py, `send_scheduled_message`): inside the transaction
# that claims the row, stores the message and marks it sent (killed there: nothing stored, the
# row still pending, the restarted worker's sweep sends it once: the test below, which holds the
# worker there with a lock on the room), or after its commit, before `deliver_posted` (the
# message and its mark stored: a restarted worker stores nothing new, the members' sync shows
# the message and the notifier makes its pending notifications; a pause under an environment
# variable at the "Fault injection point" comment would hold it there).


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_a_message_due_in_a_second_exactly_once(worker, room, alice, bob):
    send_message(author=bob, room_id=room.id, body="before", client_id="b1")
    scheduled = schedule_message(
        author=alice,
        room_id=room.id,
        body="@bob from the worker",
        send_at=timezone.now() + timedelta(seconds=1),
    )

    set_at = time.monotonic()
    deadline = set_at + 20
    while time.monotonic() < deadline and not ScheduledMessage.objects.filter(state=State.SENT).exists():
        time.sleep(0.1)
    scheduled.refresh_from_db()
    assert scheduled.state == State.SENT
    # Due in 1 s, swept every JOBS_SWEEP_SECONDS (0.5 s for the tests' worker): a few seconds.
    assert time.monotonic() - set_at < 10
    message = ChatMessage.objects.get(client_id=scheduled.client_id)
    assert (message.seq, message.author_id, scheduled.sent_message_id) == (2, alice.pk, message.pk)
    # Several more sweeps pass: still the one message, and bob's mention notified once.
    time.sleep(3)
    assert ChatMessage.objects.filter(client_id__startswith="scheduled-").count() == 1
    assert ChatMessage.objects.count() == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not Notification.objects.filter(recipient=bob).exists():
        time.sleep(0.1)
    assert Notification.objects.filter(recipient=bob, message=message).count() == 1


@pytest.mark.django_db
def test_a_site_admin_sees_scheduled_messages_and_why_one_failed(room, alice, bob):
    scheduled = later(bob, room, "bob's")
    leave_room(user=bob, room=room)
    send_due_messages(NOW + HOUR)
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client = logged_in(alice)

    listing = client.get(reverse("admin:scheduled_scheduledmessage_changelist"))
    assert listing.status_code == 200 and "not_member" in listing.content.decode()
    change = client.get(reverse("admin:scheduled_scheduledmessage_change", args=[scheduled.pk]))
    assert change.status_code == 200 and "You are no longer a member of this room." in change.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_sending_sends_the_message_once_after_it_restarts(worker, room, alice):
    scheduled = schedule_message(
        author=alice, room_id=room.id, body="through a crash", send_at=timezone.now() + timedelta(seconds=1)
    )
    with another_session_holding("SELECT 1 FROM messaging_chatroom WHERE id = %s FOR UPDATE", (room.id,)):
        if connection.vendor == "postgresql":
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not a_session_waits_on_a_lock("UPDATE messaging_chatroom"):
                time.sleep(0.1)
            assert a_session_waits_on_a_lock("UPDATE messaging_chatroom"), (
                "the worker never reached the room's lock"
            )
        else:
            time.sleep(3)  # due, and the worker's sweep waiting for the write lock
        worker.kill()
    assert ChatMessage.objects.count() == 0
    assert ScheduledMessage.objects.get().state == State.PENDING

    worker.start(timeout=60)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not ScheduledMessage.objects.filter(state=State.SENT).exists():
        time.sleep(0.1)
    time.sleep(2)  # a few more sweeps
    scheduled.refresh_from_db()
    assert scheduled.state == State.SENT
    assert list(ChatMessage.objects.values_list("client_id", "seq")) == [(scheduled.client_id, 1)]


@pytest.mark.django_db
def test_housekeeping_deletes_sent_and_cancelled_a_month_on_and_keeps_failed_and_pending(room, alice, bob):
    sent, cancelled, pending = (
        later(alice, room, "sent"),
        later(alice, room, "cancelled"),
        later(alice, room, "x", hours=2),
    )
    failed = later(bob, room, "failed")
    cancel_scheduled_message(author=alice, scheduled_id=cancelled.pk, now=NOW)
    leave_room(user=bob, room=room)
    send_due_messages(NOW + HOUR)

    assert prune_finished(NOW + timedelta(days=30)) == 0
    assert prune_finished(NOW + timedelta(days=31)) == 2
    assert set(ScheduledMessage.objects.values_list("pk", flat=True)) == {pending.pk, failed.pk}
    assert ChatMessage.objects.filter(body="sent").count() == 1  # the message itself stays
    assert sent.pk not in set(ScheduledMessage.objects.values_list("pk", flat=True))
