"""Thousands of generated frames at a live consumer: each gets a protocol answer, the consumer
never dies, and the database stays consistent."""

import asyncio
import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.models import ChatMessage, ChatRoom

from .chat import communicator_for, session_cookie
from .frame_schema import check_frame

pytestmark = pytest.mark.django_db(transaction=True)

FRAMES_PER_EXAMPLE = 60
EXAMPLES = 60
ANSWER_TYPES = {"message.new", "sync.done", "room.read", "pong", "error", "notification.new"}
ERROR_CODES = {
    "bad_request",
    "unknown_type",
    "not_member",
    "not_found",
    "too_large",
    "rate_limited",
    "server_error",
}
KNOWN_TYPES = ["message.send", "sync", "room.read", "ping"]

edge_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "\n\t", "\x00", "\ud7ff", "𝕳𝖊𝖑𝖑𝖔", "\u202e evil", "@bob", "@", "@@", "a" * 10_001]
    ),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200),
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, 2**31, 2**53, 2**53 + 1, 2**63, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, edge_text),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def frames(draw, room_id: int):
    kind = draw(
        st.sampled_from(["plausible", "plausible", "known", "known", "raw", "binary", "nested", "json"])
    )
    if kind == "plausible":
        # Right shape, edgy values: what gets past parsing into the services.
        frame_type = draw(st.sampled_from(KNOWN_TYPES))
        frame = {"type": frame_type, "room": draw(st.one_of(st.just(room_id), st.integers(0, 10**6)))}
        if frame_type == "message.send":
            frame["body"] = draw(st.one_of(edge_text, st.integers(9_995, 10_005).map(lambda n: "x" * n)))
            frame["client_id"] = draw(st.text(min_size=1, max_size=70))
        elif frame_type == "sync":
            frame["after_seq"] = draw(st.integers(min_value=-2, max_value=10**6))
        elif frame_type == "room.read":
            frame["seq"] = draw(st.integers(min_value=-2, max_value=10**6))
        return json.dumps(frame)
    if kind == "raw":
        return draw(st.text(max_size=200))
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "nested":
        depth = draw(st.integers(min_value=1, max_value=3000))
        return "[" * depth + "]" * depth
    if kind == "json":
        return json.dumps(draw(json_values))
    frame = {"type": draw(st.one_of(st.sampled_from(KNOWN_TYPES), edge_text))}
    for key in ("room", "body", "client_id", "after_seq", "seq"):
        if draw(st.booleans()):
            frame[key] = draw(
                st.one_of(st.just(room_id), numbers, edge_text, json_values)
                if key in ("room", "after_seq", "seq")
                else st.one_of(edge_text, numbers, json_values)
            )
    frame.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return json.dumps(frame)


async def drive(cookie: str, user, batch: list, seen: Counter) -> None:
    communicator = communicator_for(user, cookie=cookie)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    for raw in batch:
        # send_input, not send_to: send_to refuses empty frames, which a client can send.
        key = "bytes" if isinstance(raw, bytes) else "text"
        await communicator.send_input({"type": "websocket.receive", key: raw})
        await communicator.send_to(text_data='{"type": "ping"}')
        answers = []
        while True:
            answer = json.loads(await communicator.receive_from(timeout=5))
            if answer["type"] == "pong" and (answers or not is_ping(raw)):
                break
            answers.append(answer)
        assert answers, f"no answer to {raw!r:.200}"
        for answer in answers:
            seen[answer.get("code", answer["type"])] += 1
            assert answer["type"] in ANSWER_TYPES, answer
            check_frame(answer)
            if answer["type"] == "error":
                assert answer["code"] in ERROR_CODES, answer
                assert isinstance(answer["detail"], str) and answer["detail"]
    await communicator.disconnect()


def is_ping(raw) -> bool:
    try:
        frame = json.loads(raw)
    except (ValueError, TypeError):
        return False
    return isinstance(frame, dict) and frame.get("type") == "ping"


def assert_database_consistent() -> None:
    for room in ChatRoom.objects.all():
        seqs = list(ChatMessage.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, room.last_seq + 1)), (
            f"room {room.id}: {seqs[:10]}… last_seq {room.last_seq}"
        )
    for message in ChatMessage.objects.select_related("author", "room"):
        assert message.author.is_active and message.room_id
        assert message.body == message.body.strip() and 1 <= len(message.body) <= 10_000
        assert 1 <= len(message.client_id) <= 64


def test_generated_frames_always_get_a_protocol_answer(room, alice):
    cookie = session_cookie(alice)
    seen = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
        derandomize=True,
    )
    @given(st.lists(frames(room.id), min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE))
    def fuzz(batch):
        asyncio.run(drive(cookie, alice, batch, seen))
        assert_database_consistent()

    fuzz()
    # The generator reached every kind of answer, not just one kind of refusal.
    assert sum(seen.values()) >= EXAMPLES * FRAMES_PER_EXAMPLE
    for kind in ("message.new", "sync.done", "room.read", "bad_request", "unknown_type", "too_large"):
        assert seen[kind] > 0, (kind, seen)
