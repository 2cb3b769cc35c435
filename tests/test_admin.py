"""The Django admin manages rooms, memberships, messages and notifications."""

import pytest
from django.urls import reverse

from messaging.actions.messages import post_message
from notifications import actions as notification_actions

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, room, alice, bob):
    posted = post_message(author=alice, room_id=room.id, body="@bob <b>hi</b>", client_id="c1")
    notification_actions.notify_mentions(message=posted.message, recipient_ids=posted.mentioned_user_ids)
    admin = type(alice).objects.create_superuser("admin", "admin@example.com", "admin-pass-123")
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "model",
    [
        "messaging_chatroom",
        "messaging_membership",
        "messaging_chatmessage",
        "notifications_notification",
        "accounts_user",
    ],
)
def test_admin_changelist_and_change_pages_load(staff_client, model):
    response = staff_client.get(reverse(f"admin:{model}_changelist"))
    assert response.status_code == 200
    obj = response.context["cl"].result_list[0]
    assert staff_client.get(reverse(f"admin:{model}_change", args=[obj.pk])).status_code == 200


def test_admin_escapes_message_bodies(staff_client):
    html = staff_client.get(reverse("admin:messaging_chatmessage_changelist")).content.decode()
    assert "@bob &lt;b&gt;hi&lt;/b&gt;" in html and "<b>hi</b>" not in html


def test_messages_cannot_be_added_in_the_admin(staff_client):
    assert staff_client.get(reverse("admin:messaging_chatmessage_add")).status_code == 403


def test_new_room_in_the_admin_is_created_by_the_admin_unless_another_user_is_picked(staff_client, alice):
    from django.contrib.admin.widgets import AutocompleteSelect

    response = staff_client.get(reverse("admin:messaging_chatroom_add"))
    admin = response.context["request"].user
    created_by = response.context["adminform"].form["created_by"]
    assert created_by.value() == admin.pk
    assert isinstance(created_by.field.widget.widget, AutocompleteSelect)
    assert f'<option value="{admin.pk}" selected>admin</option>' in response.content.decode()
    found = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "messaging", "model_name": "chatroom", "field_name": "created_by", "term": "ali"},
    ).json()
    assert [result["id"] for result in found["results"]] == [str(alice.pk)]


def test_non_staff_cannot_open_the_admin(client, bob):
    client.force_login(bob)
    response = client.get(reverse("admin:messaging_chatroom_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db(transaction=True)
async def test_membership_added_in_the_admin_reaches_open_sockets(connect, room, alice, dave):
    from channels.db import database_sync_to_async
    from django.test import Client

    d = await connect(dave)

    def add_dave_in_admin():
        admin = type(alice).objects.create_superuser("root", "root@example.com", "root-pass-123")
        browser = Client()
        browser.force_login(admin)
        response = browser.post(
            reverse("admin:messaging_membership_add"),
            {
                "user": dave.id,
                "room": room.id,
                "role": "member",
                "joined_at_0": "2026-11-25",
                "joined_at_1": "10:00:00",
                "last_read_seq": 0,
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]

    await database_sync_to_async(add_dave_in_admin)()
    assert (await d.receive_type("room.joined"))["room"]["id"] == room.id


def test_messages_are_never_hard_deleted_or_rewritten_in_the_admin(staff_client, room):
    """A hard delete would leave a hole in the room's seq; an edit here would reach nobody."""
    message = room.messages.get()
    change_page = staff_client.get(reverse("admin:messaging_chatmessage_change", args=[message.pk]))
    assert change_page.status_code == 200 and 'name="_save"' not in change_page.content.decode()
    rewrite = staff_client.post(
        reverse("admin:messaging_chatmessage_change", args=[message.pk]), {"body": "rewritten"}
    )
    assert rewrite.status_code == 403
    message.refresh_from_db()
    assert message.body == "@bob <b>hi</b>"
    changelist = staff_client.get(reverse("admin:messaging_chatmessage_changelist"))
    offered = [name for name, _ in changelist.context["action_form"].fields["action"].choices if name]
    assert offered == ["delete_for_everyone"]  # Django's delete_selected is a hard delete: not offered
    hard = staff_client.post(
        reverse("admin:messaging_chatmessage_changelist"),
        {"action": "delete_selected", "_selected_action": [message.pk], "post": "yes"},
    )
    assert hard.status_code == 302  # back to the list: no such action
    message.refresh_from_db()
    assert room.messages.count() == 1 and message.body == "@bob <b>hi</b>" and not message.is_deleted
    # The delete page tombstones: the row keeps its seq.
    assert staff_client.post(
        reverse("admin:messaging_chatmessage_delete", args=[message.pk]), {"post": "yes"}
    )
    assert list(room.messages.values_list("seq", "body")) == [(1, "")]


def inline_post(room, rows, *, delete=()):
    data = {
        "name": room.name,
        "slug": room.slug,
        "description": room.description,
        "pins_by": room.pins_by,
        "created_by": room.created_by_id,
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(sum(1 for row in rows if row.get("id"))),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data[f"memberships-{i}-id"] = row.get("id", "")
        data[f"memberships-{i}-room"] = room.pk
        data[f"memberships-{i}-user"] = row["user"]
        data[f"memberships-{i}-role"] = row.get("role", "member")
        if row.get("id") in delete:
            data[f"memberships-{i}-DELETE"] = "on"
    return data


@pytest.mark.django_db(transaction=True)
async def test_membership_rows_edited_in_room_admin_reach_sockets(connect, room, alice, bob, carol, dave):
    from channels.db import database_sync_to_async
    from django.test import Client

    b, c, d = await connect(bob), await connect(carol), await connect(dave)

    def edit_rows_in_admin():
        admin = type(alice).objects.create_superuser("root", "root@example.com", "root-pass-123")
        browser = Client()
        browser.force_login(admin)
        members = {m.user_id: m.pk for m in room.memberships.all()}
        rows = [
            {"id": members[alice.id], "user": alice.id, "role": "owner"},
            {"id": members[bob.id], "user": dave.id},  # bob's row now names dave
            {"id": members[carol.id], "user": carol.id},  # deleted
        ]
        response = browser.post(
            reverse("admin:messaging_chatroom_change", args=[room.pk]),
            inline_post(room, rows, delete={members[carol.id]}),
        )
        assert response.status_code == 302, response.content.decode()[:3000]

    await database_sync_to_async(edit_rows_in_admin)()

    assert (await b.receive_type("room.left"))["room"]["id"] == room.id
    assert (await c.receive_type("room.left"))["room"]["id"] == room.id
    assert (await d.receive_type("room.joined"))["room"]["id"] == room.id
    members = sorted([u async for u in room.memberships.values_list("user__username", flat=True)])
    assert members == ["alice", "dave"]


def test_a_room_created_in_the_admin_is_owned_by_its_creator(staff_client, alice):
    response = staff_client.post(
        reverse("admin:messaging_chatroom_add"),
        {
            "name": "ops",
            "slug": "ops",
            "description": "",
            "pins_by": "members",
            "created_by": alice.pk,
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    from messaging.models import ChatRoom

    room = ChatRoom.objects.get(slug="ops")
    assert list(room.memberships.values_list("user__username", "role")) == [("alice", "owner")]


# --- messages that change: read-only history, deleting for everyone ---------------------------


def admin_browser(user_model):
    from django.test import Client

    admin = user_model.objects.create_superuser("root", "root@example.com", "root-pass-123")
    browser = Client()
    browser.force_login(admin)
    return browser, admin


@pytest.mark.django_db(transaction=True)
async def test_a_message_deleted_in_the_admin_is_a_tombstone_every_member_sees_live(
    connect, room, alice, bob, carol
):
    from channels.db import database_sync_to_async
    from django.contrib.admin.models import CHANGE, LogEntry

    from messaging.actions.changes import add_reaction, edit_message
    from messaging.models import ChatMessage, ChatRoom, MessageRevision, Reaction
    from notifications.models import Notification

    def seed():
        post_message(author=alice, room_id=room.id, body="before", client_id="c0")
        posted = post_message(author=alice, room_id=room.id, body="@bob look", client_id="c1")
        notification_actions.notify_mentions(message=posted.message, recipient_ids=posted.mentioned_user_ids)
        edit_message(user=alice, room_id=room.id, seq=2, body="@bob look at this", client_id="e1")
        add_reaction(user=carol, room_id=room.id, seq=2, emoji="👀")
        post_message(author=alice, room_id=room.id, body="after", client_id="c3")
        return posted.message.pk

    pk = await database_sync_to_async(seed)()
    b, c = await connect(bob), await connect(carol)

    def delete_in_admin():
        browser, admin = admin_browser(type(alice))
        page = browser.get(reverse("admin:messaging_chatmessage_delete", args=[pk]))
        assert "Delete message 2 in general by alice for everyone?" in page.content.decode()
        response = browser.post(reverse("admin:messaging_chatmessage_delete", args=[pk]), {"post": "yes"})
        assert response.status_code == 302, response.content.decode()[:2000]
        assert response["Location"] == reverse("admin:messaging_chatmessage_changelist")
        return admin

    admin = await database_sync_to_async(delete_in_admin)()

    last_change = (await ChatRoom.objects.aget(pk=room.pk)).last_change
    for socket in (b, c):
        updated = (await socket.receive_type("message.updated"))["message"]
        assert (updated["seq"], updated["change"], updated["deleted"]) == (2, last_change, True)
        assert (updated["body"], updated["mentions"], updated["reactions"]) == ("", [], [])
    removed = await b.receive_type("notification.removed")
    assert removed["unread"] == 0 and len(removed["ids"]) == 1
    message = await ChatMessage.objects.aget(pk=pk)
    assert (message.body, message.deleted_by_id) == ("", admin.pk)
    assert [seq async for seq in room.messages.order_by("seq").values_list("seq", flat=True)] == [1, 2, 3]
    assert await MessageRevision.objects.filter(message_id=pk).acount() == 0
    assert await Reaction.objects.filter(message_id=pk).acount() == 0
    assert await Notification.objects.filter(message_id=pk).acount() == 0
    entry = await LogEntry.objects.aget(object_id=str(pk))
    assert (entry.action_flag, entry.change_message) == (CHANGE, "Deleted for everyone (tombstone).")


@pytest.mark.django_db(transaction=True)
async def test_the_admin_action_deletes_the_selected_messages_for_everyone_live(connect, room, alice, bob):
    from channels.db import database_sync_to_async

    def seed():
        return [
            post_message(author=alice, room_id=room.id, body=f"message {i}", client_id=f"c{i}").message.pk
            for i in range(1, 5)
        ]

    pks = await database_sync_to_async(seed)()
    b = await connect(bob)

    def delete_selected_in_admin():
        browser, _ = admin_browser(type(alice))
        chosen = {"action": "delete_for_everyone", "_selected_action": [pks[0], pks[2]]}
        url = reverse("admin:messaging_chatmessage_changelist")
        confirm = browser.post(url, chosen)
        html = confirm.content.decode()
        assert confirm.status_code == 200 and "Delete these 2 messages for everyone?" in html
        assert 'name="action" value="delete_for_everyone"' in html
        done = browser.post(url, {**chosen, "post": "yes"})
        assert done.status_code == 302, done.content.decode()[:2000]
        return [str(m) for m in browser.get(url, follow=True).context["messages"]]

    notices = await database_sync_to_async(delete_selected_in_admin)()
    assert notices == ["Successfully deleted 2 chat messages."]
    updates = [(await b.receive_type("message.updated"))["message"] for _ in range(2)]
    assert [(m["seq"], m["deleted"]) for m in updates] == [(1, True), (3, True)]
    assert updates[1]["change"] == updates[0]["change"] + 1
    await b.assert_nothing_more()
    rows = [row async for row in room.messages.order_by("seq").values_list("seq", "body")]
    assert rows == [(1, ""), (2, "message 2"), (3, ""), (4, "message 4")]


def test_the_admin_shows_a_messages_earlier_versions_and_reactions_read_only(staff_client, room, bob, carol):
    from messaging.actions.changes import add_reaction, edit_message

    message = room.messages.get()
    edit_message(user=message.author, room_id=room.id, seq=1, body="@bob <b>hello</b>", client_id="e1")
    edit_message(user=message.author, room_id=room.id, seq=1, body="@bob hello!", client_id="e2")
    add_reaction(user=bob, room_id=room.id, seq=1, emoji="👍")
    add_reaction(user=carol, room_id=room.id, seq=1, emoji="🎉")
    page = staff_client.get(reverse("admin:messaging_chatmessage_change", args=[message.pk]))
    html = page.content.decode()
    versions = [form.instance.body for form in page.context["inline_admin_formsets"][0].formset.forms]
    assert versions == ["@bob <b>hi</b>", "@bob <b>hello</b>"]
    reactions = [
        (f.instance.emoji, f.instance.user.username)
        for f in page.context["inline_admin_formsets"][1].formset.forms
    ]
    assert reactions == [("👍", "bob"), ("🎉", "carol")]
    assert "&lt;b&gt;hello&lt;/b&gt;" in html and "<b>hello</b>" not in html
    assert "revisions-0-body" not in html and "reactions-0-emoji" not in html  # shown, not editable
    assert 'name="revisions-MAX_NUM_FORMS" value="0"' in html  # nothing can be added
    assert 'name="reactions-MAX_NUM_FORMS" value="0"' in html and 'name="_save"' not in html
    changelist = staff_client.get(reverse("admin:messaging_chatmessage_changelist")).content.decode()
    assert "edited" in changelist


def test_a_deleted_message_shows_no_body_in_the_admin_and_cannot_be_deleted_again(staff_client, room):
    from messaging.actions.changes import edit_message

    message = room.messages.get()
    edit_message(user=message.author, room_id=room.id, seq=1, body="@bob the second words", client_id="e1")
    staff_client.post(reverse("admin:messaging_chatmessage_delete", args=[message.pk]), {"post": "yes"})
    page = staff_client.get(reverse("admin:messaging_chatmessage_change", args=[message.pk]))
    html = page.content.decode()
    assert "&lt;b&gt;hi" not in html and "second words" not in html
    assert [len(inline.formset.forms) for inline in page.context["inline_admin_formsets"]] == [0, 0]
    changelist = staff_client.get(reverse("admin:messaging_chatmessage_changelist")).content.decode()
    assert "deleted" in changelist and "@bob" not in changelist
    assert (
        staff_client.get(reverse("admin:messaging_chatmessage_delete", args=[message.pk])).status_code == 403
    )


def test_a_message_of_an_archived_room_is_not_deleted_and_the_admin_says_why(staff_client, room):
    from django.utils import timezone

    from messaging.models import ChatRoom

    ChatRoom.objects.filter(pk=room.pk).update(archived_at=timezone.now())
    message = room.messages.get()
    response = staff_client.post(
        reverse("admin:messaging_chatmessage_delete", args=[message.pk]), {"post": "yes"}, follow=True
    )
    assert response.redirect_chain[0][0] == reverse("admin:messaging_chatmessage_change", args=[message.pk])
    assert [str(m) for m in response.context["messages"]] == [
        "Message 1 in general was not deleted: This room is archived; its messages no longer change."
    ]
    message.refresh_from_db()
    assert message.body == "@bob <b>hi</b>" and not message.is_deleted


def test_staff_with_the_message_permissions_alone_can_delete_for_everyone(client, room, alice):
    from django.contrib.auth.models import Permission

    staff = type(alice).objects.create_user("moderator", password="moderator-pass-1", is_staff=True)
    client.force_login(staff)
    post_message(author=alice, room_id=room.id, body="mind your words", client_id="m1")
    message = room.messages.get()
    url = reverse("admin:messaging_chatmessage_delete", args=[message.pk])
    staff.user_permissions.add(Permission.objects.get(codename="view_chatmessage"))
    assert client.get(url).status_code == 403  # seeing is not deleting
    staff.user_permissions.add(Permission.objects.get(codename="delete_chatmessage"))
    assert client.post(url, {"post": "yes"}).status_code == 302
    message.refresh_from_db()
    assert message.is_deleted and message.deleted_by == staff


def test_the_room_admin_shows_the_rooms_rules(staff_client, room):
    page = staff_client.get(reverse("admin:messaging_chatroom_change", args=[room.pk]))
    form = page.context["adminform"].form
    assert {"edit_window_minutes", "delete_window_minutes", "history_visible_to", "pins_by"} <= set(
        form.fields
    )
    assert "last_change" not in form.fields and "last_change" in page.context["adminform"].readonly_fields
