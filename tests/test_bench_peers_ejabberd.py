"""The ejabberd peer of the benchmark (bench/peers/ejabberd.py).

The stanza parsing and the configuration template are tested everywhere; the round trip through
a real ejabberd (its own instance on a free loopback port, about two seconds) only runs where
Debian's ejabberd is installed (`apt-get install ejabberd`), and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from bench.peers import ejabberd

OWN = "room1@conference.bench.local/u1"


def stanza(sender: str, body: str, *, kind: str = "groupchat", message_id: str = "t-1") -> str:
    return (
        f'<message xml:lang="en" to="u1@bench.local/r" from="{sender}" type="{kind}" id="{message_id}"'
        f' xmlns="jabber:client"><body>{body}</body></message>'
    )


def test_parse_message_gives_the_id_only_for_the_members_own_reflected_message():
    assert ejabberd.parse_message(stanza(OWN, "1|2|x"), OWN) == ("1|2|x", "t-1")
    assert ejabberd.parse_message(stanza("room1@conference.bench.local/u2", "1|2|x"), OWN) == ("1|2|x", None)


def test_parse_message_unescapes_the_body_and_skips_everything_but_groupchat_bodies():
    assert ejabberd.parse_message(stanza(OWN, "a &lt;b&gt; &amp; c").encode(), OWN) == ("a <b> & c", "t-1")
    assert ejabberd.parse_message(stanza(OWN, "x", kind="chat"), OWN) is None
    assert ejabberd.parse_message('<presence from="room1@conference.bench.local/u2"/>', OWN) is None
    subject = f'<message from="{OWN}" type="groupchat" xmlns="jabber:client"><subject>s</subject></message>'
    assert ejabberd.parse_message(subject, OWN) is None


def test_config_template_listens_on_loopback_only_without_tls_history_or_registration(tmp_path):
    server = ejabberd.EjabberdServer(tmp_path, max_users_presence=7)
    server.port = 12345
    text = server.config_text()
    assert 'ip: "127.0.0.1"' in text and "port: 12345" in text and "tls: false" in text
    assert "history_size: 0" in text and "max_users_presence: 7" in text
    assert "c2s_shaper: none" in text
    assert "mod_register" not in text and "mod_offline" not in text and "mod_mam:" not in text
    assert "$" not in text


@pytest.mark.skipif(not ejabberd.installed(), reason="ejabberd is not installed (apt-get install ejabberd)")
async def test_every_member_receives_every_message_and_its_own_echo_carries_its_id(tmp_path):
    server = ejabberd.EjabberdServer(tmp_path)
    await asyncio.to_thread(server.start, None)
    members = []
    try:
        assert server.pids() and server.rss_kib() > 0
        room = await server.make_room(3)
        members = await room.connect(concurrency=3)
        streams = [member.messages() for member in members]
        # Two senders on two sockets: the second sends once the first message went round.
        for sender, body, txn in ((0, "first <&> one", "u0-a"), (2, "second", "u2-b")):
            await members[sender].send(body, txn)
            got = [await asyncio.wait_for(anext(stream), 10) for stream in streams]
            assert got == [(body, txn if index == sender else None) for index in range(3)]
    finally:
        await asyncio.gather(*(member.close() for member in members), return_exceptions=True)
        await asyncio.to_thread(server.stop)
    assert server.pids() == []


def test_config_template_with_mam_archives_every_room_in_mnesia(tmp_path):
    server = ejabberd.EjabberdServer(tmp_path, mam=True)
    server.port = 12345
    text = server.config_text()
    assert server.name == "ejabberd-muc-mam"
    assert "mod_mam:\n    db_type: mnesia\n    default: always" in text
    assert "      mam: true\n" in text and "      mam: false\n" not in text
    assert "history_size: 0" in text and "$" not in text


def test_config_template_with_the_archive_in_sqlite_points_mod_mam_at_a_file_in_the_workdir(tmp_path):
    server = ejabberd.EjabberdServer(tmp_path, mam=True, mam_db="sqlite")
    server.port = 12345
    text = server.config_text()
    assert server.name == "ejabberd-muc-mam-sqlite"
    assert "mod_mam:\n    db_type: sql\n" in text and "\nsql_type: sqlite\n" in text
    assert f'sql_database: "{tmp_path / "ejabberd.db"}"' in text and "$" not in text


SQLITE_DRIVER = bool(list(Path("/usr/lib/erlang/lib").glob("p1_sqlite3-*")))


@pytest.mark.skipif(not ejabberd.installed(), reason="ejabberd is not installed (apt-get install ejabberd)")
@pytest.mark.parametrize("mam_db", ["mnesia", "sqlite"])
async def test_with_mam_every_groupchat_message_is_in_the_room_archive(tmp_path, mam_db):
    if mam_db == "sqlite" and not (SQLITE_DRIVER and ejabberd.SQLITE_SCHEMA.exists()):
        pytest.skip("ejabberd's SQLite driver is not installed (apt-get install erlang-p1-sqlite3)")
    server = ejabberd.EjabberdServer(tmp_path, mam=True, mam_db=mam_db)
    await asyncio.to_thread(server.start, None)
    members = []
    try:
        room = await server.make_room(2)
        members = await room.connect(concurrency=2)
        streams = [member.messages() for member in members]
        for i in range(7):
            await members[i % 2].send(f"1|{i}|x", f"u{i % 2}-{i}")
            for stream in streams:
                await asyncio.wait_for(anext(stream), 10)
        assert await ejabberd.archived_count(room) == 7
        if mam_db == "sqlite":
            with contextlib.closing(sqlite3.connect(tmp_path / "ejabberd.db")) as database:
                rows = database.execute(
                    "SELECT username, kind, count(*) FROM archive GROUP BY 1, 2"
                ).fetchall()
            assert rows == [(room.jid, "groupchat", 7)]
    finally:
        await asyncio.gather(*(member.close() for member in members), return_exceptions=True)
        server.stop()
