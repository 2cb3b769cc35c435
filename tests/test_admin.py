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


def test_messages_cannot_be_deleted_or_rewritten_in_the_admin(staff_client, room):
    """A hard delete would leave a hole in the room's seq; an edit here would reach nobody."""
    message = room.messages.get()
    delete_page = staff_client.get(reverse("admin:messaging_chatmessage_delete", args=[message.pk]))
    assert delete_page.status_code == 403
    staff_client.post(reverse("admin:messaging_chatmessage_change", args=[message.pk]), {"body": "rewritten"})
    message.refresh_from_db()
    assert message.body == "@bob <b>hi</b>"
    changelist = staff_client.post(
        reverse("admin:messaging_chatmessage_changelist"),
        {"action": "delete_selected", "_selected_action": [message.pk]},
    )
    assert changelist.status_code == 200
    assert room.messages.count() == 1


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
