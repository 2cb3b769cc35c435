"""Server-rendered pages: sign-up, log-in, rooms, history, membership, notifications."""

import re
import uuid
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from messaging.actions.memberships import add_member, remove_member
from messaging.actions.messages import post_message
from messaging.actions.rooms import create_room
from messaging.models import ChatMessage, ChatRoom, Membership
from notifications import actions as notification_actions
from notifications.models import Notification

from .chat import PASSWORD
from .page_ids import IdsAndReferences

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["/", "/rooms/new/", "/rooms/general/", "/rooms/general/history/?before_seq=5", "/notifications/"],
)
def test_pages_require_login(client, room, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_sign_up_logs_in_and_lands_on_the_room_list(client):
    response = client.post(
        reverse("signup"),
        {"username": "erin", "display_name": "Erin E.", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == reverse("home")
    page = client.get(reverse("home"))
    assert page.context["user"].username == "erin"
    assert "Erin E." in page.content.decode()


@pytest.mark.parametrize("url", ["signup", "room_create", "profile", "login"])
def test_help_text_and_labels_point_at_elements_that_exist(client, alice, url):
    if url in ("room_create", "profile"):
        client.force_login(alice)
    page = IdsAndReferences()
    page.feed(client.get(reverse(url)).content.decode())
    assert len(page.ids) == len(set(page.ids))
    assert [ref for ref in page.references if ref not in page.ids] == []
    described = {"signup": 4, "room_create": 1, "profile": 1, "login": 0}[url]
    assert sum(ref.endswith("_helptext") for ref in page.references) == described


def test_log_in_and_log_out_by_post(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # log-out is a POST, not a link
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_room_list_shows_my_rooms_and_joinable_ones_but_not_private_ones(client, room, alice, dave):
    create_room(creator=alice, name="secret plans", is_private=True)
    create_room(creator=alice, name="random")
    client.force_login(dave)
    page = client.get(reverse("home")).content.decode()
    assert "general" in page and "random" in page
    assert "secret plans" not in page


def test_room_renders_the_last_50_messages_in_order_and_escaped(client, room, alice):
    for i in range(55):
        post_message(author=alice, room_id=room.id, body=f"message {i}", client_id=f"c{i}")
    post_message(
        author=alice, room_id=room.id, body='<script>alert("x")</script> & <b>bold</b>', client_id="xss"
    )
    client.force_login(alice)
    response = client.get(reverse("room", args=[room.slug]))
    html = response.content.decode()
    history = response.context["history"]
    assert [m.seq for m in history] == list(range(7, 57))
    assert html.index("message 6") < html.index("message 54")
    assert "message 5<" not in html  # older than the last 50
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert '<script>alert("x")</script>' not in html
    assert 'id="load-older"' in html


def test_history_endpoint_pages_backwards(client, room, alice):
    for i in range(60):
        post_message(author=alice, room_id=room.id, body=f"m{i}", client_id=f"c{i}")
    client.force_login(alice)
    data = client.get(reverse("room_history", args=[room.slug]), {"before_seq": 11}).json()
    assert [m["seq"] for m in data["messages"]] == list(range(1, 11))
    assert data["messages"][0]["author"]["username"] == "alice"
    bad = client.get(reverse("room_history", args=[room.slug]), {"before_seq": "x"})
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"


def test_room_page_query_count_does_not_grow_with_history(
    client, room, alice, bob, django_assert_max_num_queries
):
    for i in range(50):
        author = alice if i % 2 else bob
        post_message(author=author, room_id=room.id, body=f"@bob @carol {i}", client_id=f"c{i}")
    client.force_login(alice)
    with django_assert_max_num_queries(14):
        assert client.get(reverse("room", args=[room.slug])).status_code == 200


def test_private_room_is_404_for_non_members_everywhere(client, alice, dave):
    private = create_room(creator=alice, name="staff", is_private=True)
    client.force_login(dave)
    for url in (
        reverse("room", args=[private.slug]),
        reverse("room_history", args=[private.slug]) + "?before_seq=1",
    ):
        assert client.get(url).status_code == 404
    for url in (reverse("room_join", args=[private.slug]), reverse("room_leave", args=[private.slug])):
        assert client.post(url).status_code == 404
    assert not Membership.objects.filter(room=private, user=dave).exists()


def test_create_public_and_private_rooms(client, alice):
    client.force_login(alice)
    response = client.post(reverse("room_create"), {"name": "Design Reviews", "description": "pixels"})
    room = ChatRoom.objects.get(name="Design Reviews")
    assert response["Location"] == reverse("room", args=["design-reviews"])
    assert Membership.objects.get(room=room, user=alice).role == "owner"
    client.post(reverse("room_create"), {"name": "Design Reviews", "is_private": "on"})
    second = ChatRoom.objects.exclude(pk=room.pk).get(name="Design Reviews")
    assert second.slug == "design-reviews-2" and second.is_private


def test_join_and_leave_a_public_room(client, room, dave):
    client.force_login(dave)
    page = client.get(reverse("room", args=[room.slug])).content.decode()
    assert "Join to write" in page and 'id="composer"' not in page
    client.post(reverse("room_join", args=[room.slug]))
    assert Membership.objects.filter(room=room, user=dave).exists()
    assert 'id="composer"' in client.get(reverse("room", args=[room.slug])).content.decode()
    client.post(reverse("room_leave", args=[room.slug]))
    assert not Membership.objects.filter(room=room, user=dave).exists()


def test_only_owner_cannot_leave(client, room, alice):
    client.force_login(alice)
    client.post(reverse("room_leave", args=[room.slug]), follow=True)
    assert Membership.objects.filter(room=room, user=alice, role="owner").exists()


def test_room_admins_add_and_remove_members_of_private_rooms(client, alice, bob, dave):
    private = create_room(creator=alice, name="staff", is_private=True)
    client.force_login(alice)
    client.post(reverse("member_add", args=[private.slug]), {"username": "Dave"})
    assert Membership.objects.filter(room=private, user=dave).exists()
    response = client.post(reverse("member_add", args=[private.slug]), {"username": "nobody"}, follow=True)
    assert "There is no user called" in response.content.decode()
    client.post(reverse("member_remove", args=[private.slug, dave.id]))
    assert not Membership.objects.filter(room=private, user=dave).exists()


def test_members_cannot_manage_members(client, room, bob, dave):
    client.force_login(bob)
    response = client.post(reverse("member_add", args=[room.slug]), {"username": "dave"}, follow=True)
    assert "Only the room" in response.content.decode()
    assert not Membership.objects.filter(room=room, user=dave).exists()


def test_notifications_page_lists_opens_and_marks_read(client, room, alice, bob):
    posted = post_message(author=alice, room_id=room.id, body="@bob <i>look</i>", client_id="c1")
    notification_actions.notify_mentions(message=posted.message, recipient_ids=posted.mentioned_user_ids)
    client.force_login(bob)
    page = client.get(reverse("home")).content.decode()
    assert 'id="notification-badge" class="badge"' in page and ">1</span>" in page
    listing = client.get(reverse("notifications")).content.decode()
    assert "mentioned you in" in listing and "&lt;i&gt;look&lt;/i&gt;" in listing
    notification = Notification.objects.get(recipient=bob)
    response = client.post(reverse("notification_open", args=[notification.id]))
    assert response["Location"] == reverse("room", args=[room.slug]) + "?around=1#m1"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_mark_all_read_and_others_notifications_are_404(client, room, alice, bob, carol):
    posted = post_message(author=alice, room_id=room.id, body="@bob @carol hi", client_id="c1")
    notification_actions.notify_mentions(message=posted.message, recipient_ids=posted.mentioned_user_ids)
    carols = Notification.objects.get(recipient=carol)
    client.force_login(bob)
    assert client.post(reverse("notification_open", args=[carols.id])).status_code == 404
    client.post(reverse("notification_read_all"))
    assert not Notification.objects.filter(recipient=bob, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=carol, read_at__isnull=True).exists()


def test_profile_updates_display_name(client, alice):
    client.force_login(alice)
    client.post(reverse("profile"), {"display_name": "Alice A."})
    alice.refresh_from_db()
    assert alice.display_name == "Alice A."


def test_security_headers(client, alice):
    client.force_login(alice)
    response = client.get(reverse("home"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"


def test_health_check(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_removed_member_no_longer_sees_notifications_from_a_private_room(client, alice, bob):
    private = create_room(creator=alice, name="staff", is_private=True)
    add_member(actor=alice, room=private, username="bob")
    posted = post_message(author=alice, room_id=private.id, body="@bob secret plan", client_id="s1")
    notification_actions.notify_mentions(message=posted.message, recipient_ids=posted.mentioned_user_ids)
    remove_member(actor=alice, room=private, user=bob)
    client.force_login(bob)
    assert "secret plan" not in client.get(reverse("notifications")).content.decode()
    assert 'id="notification-badge" class="badge" hidden' in client.get(reverse("home")).content.decode()
    notification = Notification.objects.get(recipient=bob)
    assert client.post(reverse("notification_open", args=[notification.id])).status_code == 404


def test_an_old_message_opens_with_its_page_of_history(client, room, alice, bob):
    for i in range(120):
        body = "@bob the old one" if i == 9 else f"m{i}"
        post_message(author=alice, room_id=room.id, body=body, client_id=f"c{i}")
    client.force_login(bob)
    response = client.get(reverse("room", args=[room.slug]), {"around": 10})
    seqs = [m.seq for m in response.context["history"]]
    assert 10 in seqs and seqs == list(range(1, 35))
    assert 'id="m10"' in response.content.decode()
    bad = client.get(reverse("room", args=[room.slug]), {"around": "x"})
    assert bad.status_code == 400  # refused, no longer ignored: every query parameter is strict
    latest = client.get(reverse("room", args=[room.slug]), {"around": ""})
    assert [m.seq for m in latest.context["history"]] == list(range(71, 121))


NOT_POSITIONS = ["²", "٣", " 5", "5 ", "+5", "-5", "5_0", "0", "5.0", "0x10", str(2**53 + 1), "9" * 400]


@pytest.mark.parametrize("value", NOT_POSITIONS)
def test_room_page_answers_a_bad_around_with_the_400_page(client, production_errors, room, alice, value):
    client.force_login(alice)
    response = client.get(reverse("room", args=[room.slug]), {"around": value})
    html = assert_parley_error_page(response, 400, reverse("home"))
    assert "around must be one whole number from 1 to 9007199254740992." in html


def test_room_page_refuses_a_repeated_around(client, room, alice):
    client.force_login(alice)
    assert client.get(reverse("room", args=[room.slug]) + "?around=1&around=2").status_code == 400
    assert client.get(reverse("room", args=[room.slug]), {"around": 2**53}).status_code == 200


@pytest.mark.parametrize("value", [*NOT_POSITIONS, ""])
def test_history_endpoint_answers_a_bad_before_seq_with_the_json_error(client, room, alice, value):
    client.force_login(alice)
    response = client.get(reverse("room_history", args=[room.slug]), {"before_seq": value})
    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_request",
        "detail": "before_seq must be one whole number from 1 to 9007199254740992.",
    }


# --- error pages ----------------------------------------------------------------------------------


@pytest.fixture
def production_errors(settings):
    """Error pages as production shows them (with DEBUG the technical pages answer instead)."""
    settings.DEBUG = False


def assert_parley_error_page(response, status: int, way_back: str) -> str:
    html = response.content.decode()
    assert response.status_code == status
    assert 'class="site-header"' in html and f"Error {status}" in html
    assert f'<a class="button" href="{way_back}">' in html
    assert "<title>Parley</title>" not in html and " · Parley</title>" in html
    return html


def test_unknown_page_is_parleys_404_with_a_way_back(client, production_errors, alice):
    assert_parley_error_page(client.get("/no/such/page/"), 404, reverse("login"))
    client.force_login(alice)
    html = assert_parley_error_page(client.get("/rooms/no-such-room/"), 404, reverse("home"))
    assert "Log out" in html  # the logged-in header, not the anonymous one


def test_private_room_answers_the_same_404_page_as_a_missing_one(client, production_errors, alice, dave):
    private = create_room(creator=alice, name="staff", is_private=True)
    client.force_login(dave)

    def page(slug):
        html = client.get(reverse("room", args=[slug])).content.decode()
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)  # masked afresh each time

    assert page(private.slug) == page("no-such-room")


def test_forbidden_page_is_parleys_403(client, production_errors, alice):
    admin = type(alice).objects.create_superuser("admin", "admin@example.com", "admin-pass-123")
    client.force_login(admin)
    # Messages cannot be added by hand in the admin: PermissionDenied, Django's 403 handler.
    assert_parley_error_page(client.get(reverse("admin:messaging_chatmessage_add")), 403, reverse("home"))


def test_expired_form_is_parleys_403_that_says_to_reload(production_errors, alice):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    response = browser.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    html = assert_parley_error_page(response, 403, reverse("login"))
    assert "reload the page" in html


def test_server_error_is_parleys_500_without_a_request_context(client, production_errors, alice, monkeypatch):
    from messaging import selectors

    def broken(*args, **kwargs):
        raise RuntimeError("the database is on fire")

    monkeypatch.setattr(selectors, "rooms_for", broken)
    client.force_login(alice)
    client.raise_request_exception = False
    # Django renders 500.html with no context at all: the page cannot know who is logged in.
    html = assert_parley_error_page(client.get(reverse("home")), 500, reverse("login"))
    assert "on fire" not in html and "Log out" not in html


# --- the composer without JavaScript --------------------------------------------------------------


class Forms(HTMLParser):
    """Each form's attributes and its inputs' (and textareas') attributes."""

    def __init__(self):
        super().__init__()
        self.forms: dict[str, dict] = {}
        self.current: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.current = {**attributes, "fields": {}}
            self.forms[attributes.get("id") or attributes.get("action")] = self.current
        elif tag in ("input", "textarea") and self.current is not None:
            self.current["fields"][attributes.get("name")] = attributes

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None


def composer_of(html: str) -> dict:
    forms = Forms()
    forms.feed(html)
    return forms.forms["composer"]


def test_composer_is_a_post_form_with_csrf_and_a_fresh_client_id_per_render(client, room, alice):
    client.force_login(alice)
    first, second = (
        composer_of(client.get(reverse("room", args=[room.slug])).content.decode()) for _ in "12"
    )
    assert first["method"] == "post" and first["action"] == reverse("message_send", args=[room.slug])
    assert first["class"] == "composer"
    assert set(first["fields"]) == {"csrfmiddlewaretoken", "client_id", "body"}
    assert first["fields"]["body"]["id"] == "message-input"
    ids = {uuid.UUID(form["fields"]["client_id"]["value"]) for form in (first, second)}
    assert len(ids) == 2


def test_posted_composer_sends_the_message_and_returns_to_it(client, room, alice):
    client.force_login(alice)
    response = client.post(
        reverse("message_send", args=[room.slug]), {"body": "  Hello <team>  ", "client_id": "form-1"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("room", args=[room.slug]) + "#m1"
    message = ChatMessage.objects.get(room=room)
    assert (message.seq, message.body, message.client_id, message.author) == (
        1,
        "Hello <team>",
        "form-1",
        alice,
    )
    assert "Hello &lt;team&gt;" in client.get(response["Location"]).content.decode()
    assert client.get(reverse("message_send", args=[room.slug])).status_code == 405


def test_a_double_submitted_composer_stores_one_message(client, room, alice):
    client.force_login(alice)
    for _ in range(2):
        response = client.post(
            reverse("message_send", args=[room.slug]), {"body": "once", "client_id": "form-1"}
        )
        assert response["Location"].endswith("#m1")
    assert ChatMessage.objects.filter(room=room).count() == 1
    page = client.get(reverse("room", args=[room.slug])).content.decode()
    assert 'class="flash' not in page


def test_a_stale_composer_says_its_text_was_not_sent(client, room, alice):
    client.force_login(alice)
    client.post(reverse("message_send", args=[room.slug]), {"body": "first", "client_id": "form-1"})
    response = client.post(
        reverse("message_send", args=[room.slug]), {"body": "second", "client_id": "form-1"}, follow=True
    )
    assert "that page was out of date" in response.content.decode()
    assert list(ChatMessage.objects.values_list("body", flat=True)) == ["first"]


@pytest.mark.parametrize(
    ("body", "client_id", "reason"),
    [
        ("   ", "form-1", "The message is empty."),
        ("x" * 10_001, "form-1", "The message is longer than 10,000 characters."),
        ("hello", "", "client_id must be 1 to 64 characters."),
    ],
)
def test_a_refused_composer_comes_back_with_the_reason(client, room, alice, body, client_id, reason):
    client.force_login(alice)
    url = reverse("message_send", args=[room.slug])
    response = client.post(url, {"body": body, "client_id": client_id})
    assert response["Location"] == reverse("room", args=[room.slug])
    page = client.get(response["Location"]).content.decode()
    assert f'<li class="flash-error">Your message was not sent: {reason}</li>' in page
    assert not ChatMessage.objects.exists()


def test_composer_posts_only_where_one_may_write(client, room, alice, dave):
    private = create_room(creator=alice, name="staff", is_private=True)
    client.force_login(dave)
    response = client.post(
        reverse("message_send", args=[room.slug]), {"body": "hi", "client_id": "d1"}, follow=True
    )
    assert "Your message was not sent: You are not a member of this room." in response.content.decode()
    assert (
        client.post(
            reverse("message_send", args=[private.slug]), {"body": "hi", "client_id": "d2"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            reverse("message_send", args=["no-such-room"]), {"body": "hi", "client_id": "d3"}
        ).status_code
        == 404
    )
    assert not ChatMessage.objects.exists()


def test_composer_post_needs_the_csrf_token(room, alice):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = browser.post(reverse("message_send", args=[room.slug]), {"body": "forged", "client_id": "f1"})
    assert response.status_code == 403
    assert not ChatMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_posted_composer_reaches_open_sockets_and_notifies(client, connect, room, alice, bob, carol):
    from channels.db import database_sync_to_async

    b, c = await connect(bob), await connect(carol)
    await database_sync_to_async(client.force_login)(alice)
    response = await database_sync_to_async(client.post)(
        reverse("message_send", args=[room.slug]), {"body": "@bob without a script", "client_id": "form-1"}
    )
    assert response.status_code == 302
    for tab in (b, c):
        message = (await tab.receive_type("message.new"))["message"]
        assert (message["seq"], message["body"], message["mentions"]) == (1, "@bob without a script", ["bob"])
    assert (await b.receive_type("notification.new"))["notification"]["message"]["seq"] == 1
