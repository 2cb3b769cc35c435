"""The Synapse peer of the benchmark (bench/peers/synapse.py).

The HTTP client is tested against a small asyncio server here; the round trip through a real
homeserver only runs where .venv-synapse holds the pinned matrix-synapse (`python -m
bench.peers.synapse install`), and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import string

import pytest

from bench.peers import synapse


async def serve(answers: list[bytes]):
    """A server answering each request on a connection with the next of `answers`; the requests."""
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                requests.append(head + await reader.readexactly(length))
                writer.write(answers.pop(0))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], requests


async def test_connection_reads_content_length_and_chunked_answers_on_one_kept_alive_socket():
    answers = [
        b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{"a": "xy"}',
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"b"\r\n4\r\n: 2}\r\n0\r\n\r\n',
    ]
    server, port, requests = await serve(answers)
    async with server:
        connection = synapse.Connection("127.0.0.1", port)
        assert await connection.request("GET", "/one", token="tok") == {"a": "xy"}
        writer = connection.writer
        assert await connection.request("PUT", "/two", b'{"x": 1}') == {"b": 2}
        assert connection.writer is writer  # the same socket for both
        connection.close()
    assert requests[0].startswith(b"GET /one HTTP/1.1\r\n")
    assert b"Authorization: Bearer tok\r\n" in requests[0]
    assert requests[1].endswith(b'Content-Length: 8\r\n\r\n{"x": 1}')


async def test_connection_raises_the_status_of_an_error_answer():
    server, port, _ = await serve([b"HTTP/1.1 429 Too Many\r\nContent-Length: 2\r\n\r\n{}"])
    async with server:
        connection = synapse.Connection("127.0.0.1", port)
        with pytest.raises(synapse.HttpError) as error:
            await connection.request("GET", "/x")
        connection.close()
    assert error.value.status == 429


def test_the_config_template_turns_rate_limits_off_and_listens_on_loopback_only(tmp_path):
    server = synapse.PeerServer(tmp_path, port=18008)
    text = (synapse.TEMPLATES / "homeserver.yaml").read_text()
    rendered = string.Template(text).substitute(
        work=str(tmp_path),
        port="18008",
        registration_secret="s",
        macaroon_secret="m",
        form_secret="f",
        database='{"name": "sqlite3"}',
    )
    assert 'bind_addresses: ["127.0.0.1"]' in rendered
    assert "- names: [client]\n" in rendered  # no federation resource
    assert "tls: false" in rendered
    for limit in ("rc_message", "rc_joins_per_room", "rc_registration", "rc_invites"):
        assert f"{limit}:" in rendered
    assert "per_second: 0." not in rendered
    assert server.url == "http://127.0.0.1:18008"


@pytest.mark.skipif(not synapse.installed(), reason=f"matrix-synapse {synapse.VERSION} not in .venv-synapse")
async def test_every_member_receives_every_message_and_its_own_with_its_txn_id(tmp_path, monkeypatch):
    server = synapse.PeerServer(tmp_path)
    await asyncio.to_thread(server.start, None)
    try:
        room = await server.make_room(3)
        members = await room.connect()
        bodies = [f"1|0|message {i}" for i in range(3)]
        for i, body in enumerate(bodies):
            await members[i].send(body, f"txn{i}")  # returns at once (open-loop) ...
            await members[i].sent()  # ... so wait for the answer: the three in this order
        received = [[await asyncio.wait_for(anext(m.messages()), 20) for _ in bodies] for m in members]
        await room.close()
        # One message per /sync answer: whatever more came meanwhile is fetched with /messages.
        monkeypatch.setattr(synapse.Member, "timeline_limit", 1)
        small = await server.make_room(2)
        pair = await small.connect()
        many = [f"1|0|burst {i}" for i in range(6)]
        for i, body in enumerate(many):
            await pair[0].send(body, f"b{i}")
        assert len(pair[0].in_flight) == len(many)  # all six PUTs at once, none answered yet
        await pair[0].sent()
        assert pair[0].send_errors == 0
        burst = [await asyncio.wait_for(anext(pair[1].messages()), 20) for _ in many]
        await small.close()
    finally:
        await asyncio.to_thread(server.cleanup)
    for index, got in enumerate(received):
        assert [body for body, _ in got] == bodies
        assert [txn for _, txn in got] == [f"txn{i}" if i == index else None for i in range(3)]
    assert sorted(body for body, _ in burst) == many
    assert {txn for _, txn in burst} == {None}
