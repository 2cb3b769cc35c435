"""Missed-message emails (notifications/digest.py): what a user did not see, once, after their delay.

The sweep takes `now`: the tests move the clock by passing it, never by sleeping. The last tests
run the real worker against the real SMTP server (tests/mailbox.py).
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from jobs.email import send_queued_email
from jobs.models import OutboundEmail
from messaging.actions.memberships import mark_room_read
from messaging.actions.messages import send_message
from messaging.actions.threads import mark_thread_read
from notifications.actions import mark_read
from notifications.digest import send_missed_emails, unsubscribe_token
from notifications.models import Notification

from .mailbox import html_of, text_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.PARLEY = {**settings.PARLEY, "SITE_URL": "http://testserver"}


@pytest.fixture
def bob_by_email(bob):
    bob.email = "bob@example.com"
    bob.email_verified_at = timezone.now()
    bob.missed_email_minutes = 10
    bob.save()
    return bob


def mention(author, room, body: str, client_id: str, **extra):
    return send_message(author=author, room_id=room.id, body=body, client_id=client_id, **extra).message


def sent() -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(key__startswith="missed:").order_by("pk"))


def later(minutes: float):
    return timezone.now() + timedelta(minutes=minutes)


def test_a_mention_unread_after_the_delay_is_emailed_once_with_a_link_to_it(room, alice, bob_by_email):
    message = mention(alice, room, "@bob can you look at the deploy?", "m1")
    assert send_missed_emails(later(9)) == 0, "not before the user's 10 minutes"
    assert send_missed_emails(later(10.1)) == 1
    assert send_missed_emails(later(30)) == 0, "emailed once"
    [email] = sent()
    assert email.to == "bob@example.com"
    assert email.subject == "1 missed message in Parley: #general"
    assert "@bob can you look at the deploy?" in email.text
    assert f"/rooms/{room.slug}/?around={message.seq}#m{message.seq}" in email.text
    assert "Alice" in email.text and "&lt;" not in email.text
    assert "can you look at the deploy?" in email.html
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = unsubscribe_token(bob_by_email)
    assert (
        email.headers["List-Unsubscribe"] == f"<http://testserver/notifications/email/unsubscribe/{token}/>"
    )
    assert Notification.objects.get(recipient=bob_by_email).emailed_at is not None


def test_one_email_holds_every_missed_conversation_grouped(room, alice, carol, bob_by_email):
    from messaging.actions.rooms import create_room, join_room

    ops = create_room(creator=carol, name="ops")
    join_room(user=bob_by_email, room=ops)
    mention(alice, room, "@bob first", "a")
    mention(carol, ops, "@bob the pager went off", "b")
    mention(alice, room, "@bob second", "c")
    assert send_missed_emails(later(11)) == 1
    [email] = sent()
    assert email.subject == "3 missed messages in Parley: #general, #ops"
    general, pager = email.text.index("== #general =="), email.text.index("== #ops ==")
    assert general < email.text.index("@bob first") < email.text.index("@bob second") < pager
    assert pager < email.text.index("the pager went off")


def test_the_delay_is_counted_from_the_oldest_missed_mention(room, alice, bob_by_email):
    mention(alice, room, "@bob one", "a")
    assert send_missed_emails(later(10.5)) == 1
    # The next one waits its own ten minutes: one email per interval.
    Notification.objects.update(created_at=timezone.now())
    mention(alice, room, "@bob two", "b")
    assert send_missed_emails(later(5)) == 0
    assert send_missed_emails(later(10.5)) == 1
    assert [e.subject for e in sent()] == ["1 missed message in Parley: #general"] * 2
    assert "@bob two" in sent()[1].text and "@bob one" not in sent()[1].text


def test_nothing_is_emailed_for_what_was_read_in_the_meantime(room, alice, bob_by_email):
    first = mention(alice, room, "@bob seen in the room", "a")
    mark_room_read(user=bob_by_email, room_id=room.id, seq=first.seq)
    mention(alice, room, "@bob read on the notifications page", "b")
    mark_read(recipient=bob_by_email)
    assert send_missed_emails(later(60)) == 0
    assert sent() == []


def test_a_reply_read_in_its_thread_is_not_emailed_and_an_unread_one_is(room, alice, carol, bob_by_email):
    root = mention(bob_by_email, room, "a question", "root")
    mention(alice, room, "an answer", "r1", thread_root=root.seq)
    assert Notification.objects.filter(recipient=bob_by_email, kind="reply").count() == 1
    reply = Notification.objects.get(recipient=bob_by_email).message
    mark_thread_read(user=bob_by_email, room_id=room.id, root_seq=root.seq, seq=reply.seq)
    assert send_missed_emails(later(60)) == 0
    mention(carol, room, "another answer", "r2", thread_root=root.seq)
    mention(alice, room, "and a third", "r3", thread_root=root.seq)
    assert send_missed_emails(later(60)) == 1
    [email] = sent()
    assert "Thread in #general: “a question”" in email.text
    assert "another answer" in email.text and "and a third" in email.text
    assert "an answer\n" not in email.text


def test_a_newer_reply_makes_an_emailed_thread_missed_again(room, alice, bob_by_email):
    root = mention(bob_by_email, room, "a question", "root")
    mention(alice, room, "answer one", "r1", thread_root=root.seq)
    assert send_missed_emails(later(11)) == 1
    mention(alice, room, "answer two", "r2", thread_root=root.seq)
    assert send_missed_emails(later(11)) == 1
    assert "answer two" in sent()[1].text


def test_no_email_to_an_unverified_address_to_a_user_who_said_never_or_left_the_room(
    room, alice, bob_by_email, carol
):
    from messaging.actions.rooms import leave_room

    carol.email, carol.missed_email_minutes = "carol@example.com", 0
    carol.save()  # not verified
    mention(alice, room, "@carol @bob hello", "a")
    bob_by_email.missed_email_minutes = None
    bob_by_email.save()
    assert send_missed_emails(later(60)) == 0
    bob_by_email.missed_email_minutes = 10
    bob_by_email.save()
    leave_room(user=bob_by_email, room=room)
    assert send_missed_emails(later(60)) == 0
    assert sent() == []


def test_a_deleted_message_is_not_emailed(room, alice, bob_by_email):
    from messaging.actions.changes import delete_message

    message = mention(alice, room, "@bob oops, wrong room", "a")
    delete_message(user=alice, room_id=room.id, seq=message.seq)
    assert send_missed_emails(later(60)) == 0


def test_at_once_sends_on_the_next_sweep(room, alice, bob_by_email):
    bob_by_email.missed_email_minutes = 0
    bob_by_email.save()
    mention(alice, room, "@bob now", "a")
    assert send_missed_emails(timezone.now() + timedelta(seconds=1)) == 1


def test_nothing_is_emailed_while_the_user_is_in_parley_and_it_waits_till_they_leave(
    room, alice, bob_by_email
):
    mention(alice, room, "@bob are you there?", "a")
    now = later(20)
    bob_by_email.present_at = now - timedelta(seconds=30)
    bob_by_email.save()
    assert send_missed_emails(now) == 0
    assert send_missed_emails(now + timedelta(minutes=5)) == 0, "active as long as presence shows it"
    assert send_missed_emails(now + timedelta(minutes=7)) == 1, "gone for minutes: emailed"


def test_the_presence_tracker_records_presence_also_for_an_invisible_user(bob):
    from awareness.actions import record_last_active

    bob.invisible = True
    bob.save()
    moment = timezone.now().timestamp()
    record_last_active({}, {bob.id: moment})
    bob.refresh_from_db()
    assert bob.present_at is not None and bob.last_active_at is None
    record_last_active({}, {bob.id: moment - 100})
    bob.refresh_from_db()
    assert abs(bob.present_at.timestamp() - moment) < 0.001, "never moved back"


def test_two_sweeps_at_once_email_once(room, alice, bob_by_email):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    for n in range(5):
        mention(alice, room, f"@bob number {n}", f"m{n}")
    now = later(11)

    def sweep():
        try:
            return send_missed_emails(now)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: sweep(), range(2)))
    assert sorted(results) == [0, 1]
    [email] = sent()
    assert all(f"number {n}" in email.text for n in range(5))


def test_the_unsubscribe_link_asks_on_get_and_unsubscribes_on_post(client, bob_by_email):
    url = reverse("missed_email_unsubscribe", args=[unsubscribe_token(bob_by_email)])
    page = client.get(url)
    assert page.status_code == 200 and b"Stop emails about missed mentions" in page.content
    bob_by_email.refresh_from_db()
    assert bob_by_email.missed_email_minutes == 10, "a GET (a mail scanner) changes nothing"
    # RFC 8058's one-click: a bare POST, no session, no CSRF token.
    from django.test import Client

    done = Client(enforce_csrf_checks=True).post(url, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"will no longer email" in done.content
    bob_by_email.refresh_from_db()
    assert bob_by_email.missed_email_minutes is None


def test_a_tampered_unsubscribe_link_is_refused_and_changes_nothing(client, bob_by_email, alice):
    token = unsubscribe_token(bob_by_email)
    bad = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    answer = client.post(reverse("missed_email_unsubscribe", args=[bad]))
    assert answer.status_code == 400 and b"not valid" in answer.content
    bob_by_email.refresh_from_db()
    assert bob_by_email.missed_email_minutes == 10


def test_the_email_is_sent_through_the_backend_with_its_headers(room, alice, bob_by_email):
    mention(alice, room, "@bob <b>not bold</b> & fine", "a")
    send_missed_emails(later(11))
    [email] = sent()
    assert send_queued_email(email.pk) == "sent"
    [message] = mail.outbox
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.alternatives[0][0]
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; fine" in html and "<b>not bold</b>" not in html
    assert "<b>not bold</b> & fine" in message.body


def test_the_worker_emails_a_missed_mention_to_the_smtp_server(worker, mailbox, room, alice, bob_by_email):
    bob_by_email.missed_email_minutes = 0
    bob_by_email.save()
    mention(alice, room, "@bob the build is red", "a")
    [message] = mailbox.wait_for(1)
    assert message["To"] == "bob@example.com"
    assert message["Subject"] == "1 missed message in Parley: #general"
    assert (
        message["List-Unsubscribe"].strip().startswith("<http://testserver/notifications/email/unsubscribe/")
    )
    assert "the build is red" in text_of(message) and "the build is red" in html_of(message)
    # Nothing more comes: the notification is emailed.
    mention(alice, room, "no mention here", "b")
    with pytest.raises(AssertionError):
        mailbox.wait_for(2, timeout=2)
