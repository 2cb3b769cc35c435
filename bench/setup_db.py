"""Benchmark users, rooms, memberships and logged-in sessions, written straight to the database.

    python -m bench.setup_db --rooms 10,100,1000 --idle 10000 --out setup.json

Run with the server's environment (DATABASE_URL or SQLITE_PATH, ...), after `migrate`. For each
room size N it creates N users in a room of their own ("bench-N"); for the idle-connection test
it creates the idle users, in rooms of --idle-room-size. Every user gets a session in Django's
session store as `login()` would leave it (user id, backend, session hash), so the load
generator presents `sessionid` cookies without going through the login form (whose password
hashing would dominate the setup). Writes the room ids and session keys as JSON to --out.
"""

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BATCH = 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rooms", default="10,100,1000", help="room sizes, comma-separated")
    parser.add_argument("--idle", type=int, default=0, help="users for the idle-connection test")
    parser.add_argument("--idle-room-size", type=int, default=100)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, transaction
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from messaging.models import ChatRoom, Membership

    user_model = get_user_model()
    backend = settings.AUTHENTICATION_BACKENDS[0]
    started = time.monotonic()
    # One unusable password for everyone: sessions are what log them in here.
    password = make_password(None)

    def make_users(prefix: str, count: int) -> list:
        names = [f"{prefix}-{i:05d}" for i in range(count)]
        user_model.objects.bulk_create(
            [user_model(username=name, password=password, display_name=name) for name in names],
            batch_size=BATCH,
        )
        by_name = dict(user_model.objects.filter(username__in=names).values_list("username", "id"))
        users = list(user_model.objects.filter(id__in=by_name.values()).order_by("username"))
        assert len(users) == count, f"expected {count} users named {prefix}-*, found {len(users)}"
        return users

    def make_room(slug: str, users: list) -> int:
        room = ChatRoom.objects.create(name=slug, slug=slug, created_by=users[0])
        Membership.objects.bulk_create(
            [
                Membership(
                    user=user, room=room, role=Membership.Role.OWNER if i == 0 else Membership.Role.MEMBER
                )
                for i, user in enumerate(users)
            ],
            batch_size=BATCH,
        )
        return room.id

    def make_sessions(users: list) -> list[str]:
        store = SessionStore()
        model = SessionStore.get_model_class()
        expires = timezone.now() + datetime.timedelta(days=1)
        keys, rows = [], []
        for user in users:
            key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
            data = {
                SESSION_KEY: str(user.pk),
                BACKEND_SESSION_KEY: backend,
                HASH_SESSION_KEY: user.get_session_auth_hash(),
            }
            rows.append(model(session_key=key, session_data=store.encode(data), expire_date=expires))
            keys.append(key)
        model.objects.bulk_create(rows, batch_size=BATCH)
        return keys

    result: dict = {"rooms": {}, "idle": {"rooms": [], "sessions": []}}
    with transaction.atomic():
        for size in [int(s) for s in args.rooms.split(",") if s.strip()]:
            users = make_users(f"bench-r{size}", size)
            result["rooms"][str(size)] = {
                "id": make_room(f"bench-{size}", users),
                "sessions": make_sessions(users),
                "user_ids": [user.id for user in users],  # member i's (presence frames name them)
            }
        if args.idle:
            users = make_users("bench-idle", args.idle)
            for start in range(0, args.idle, args.idle_room_size):
                chunk = users[start : start + args.idle_room_size]
                result["idle"]["rooms"].append(make_room(f"bench-idle-{start // args.idle_room_size}", chunk))
            result["idle"]["sessions"] = make_sessions(users)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # Fold the WAL into the main file, so the file can be copied for the next run.
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    Path(args.out).write_text(json.dumps(result))
    users_made = sum(int(size) for size in result["rooms"]) + args.idle
    print(f"bench/setup_db.py: {users_made} users with sessions in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
