"""Demo users and a room to try Parley with; running it twice changes nothing."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from messaging.actions.direct import start_direct
from messaging.actions.rooms import create_room, join_room
from messaging.models import ChatRoom

DEMO_PASSWORD = "parley-demo"  # noqa: S105 - printed on the console on purpose
DEMO_USERS = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")]


class Command(BaseCommand):
    help = (
        "Create the demo users alice, bob and carol, the room 'general' with all three, and a direct "
        "conversation of alice and bob."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD)

    def handle(self, *args, password, **options):
        user_model = get_user_model()
        users = []
        for username, display_name in DEMO_USERS:
            user, created = user_model.objects.get_or_create(
                username=username, defaults={"display_name": display_name}
            )
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
            users.append(user)
        room = ChatRoom.objects.filter(slug="general").first()
        if room is None:
            room = create_room(creator=users[0], name="general", description="Everyone, everything.")
        for user in users[1:]:
            join_room(user=user, room=room)
        # Empty: a message in it would be every demo session's unread notification.
        direct = start_direct(starter=users[0], usernames=[users[1].username]).room
        port = os.environ.get("PORT", "8000")
        self.stdout.write(f"Demo users: alice, bob, carol — password: {password}")
        self.stdout.write(f"Demo room: general — http://127.0.0.1:{port}/rooms/general/")
        self.stdout.write(
            f"Demo direct message: alice and bob — http://127.0.0.1:{port}/rooms/{direct.slug}/"
        )
