"""A socket's outbox: frames go out in the step that pushed them, no task per frame; a send that
must wait (a full transport) is finished by a writer, every frame once and in order; a client
that stays behind is let go once, within its bounds."""

import asyncio

from messaging.realtime.outbox import Outbox


class Transport:
    """An ASGI send as uvicorn's websockets-sansio one: it waits while the transport is paused
    (its write buffer above the high-water mark), and otherwise writes before returning."""

    def __init__(self):
        self.writable = asyncio.Event()
        self.writable.set()
        self.written: list[str] = []
        self.sends = 0

    async def send(self, message: dict) -> None:
        self.sends += 1
        await self.writable.wait()
        assert message["type"] == "websocket.send"
        self.written.append(message["text"])


def outbox_for(transport, *, max_frames=5000, max_bytes=4 * 1024 * 1024):
    slow = []
    outbox = Outbox(
        send=transport.send, too_slow=lambda: slow.append(1), max_frames=max_frames, max_bytes=max_bytes
    )
    outbox.start()
    return outbox, slow


async def settle():
    for _ in range(20):
        await asyncio.sleep(0)


async def test_frames_are_written_within_the_push_without_a_task():
    transport = Transport()
    outbox, _ = outbox_for(transport)
    tasks_before = len(asyncio.all_tasks())

    for i in range(1000):
        outbox.push(f"frame {i}", 7)
        assert transport.written[-1] == f"frame {i}"  # written before push returned

    assert len(asyncio.all_tasks()) == tasks_before
    assert outbox.writer is None and outbox.bytes == 0


async def test_a_paused_transport_gets_every_frame_once_in_order():
    transport = Transport()
    outbox, slow = outbox_for(transport)
    expected = []
    for round_ in range(5):
        outbox.push(f"{round_}-before", 10)
        expected.append(f"{round_}-before")
        transport.writable.clear()
        for i in range(50):
            outbox.push(f"{round_}-{i}", 10)
            expected.append(f"{round_}-{i}")
        assert outbox.writer is not None
        assert outbox.bytes == 500  # the waiting send and the 49 behind it
        await settle()
        assert transport.written == expected[: len(expected) - 50]
        transport.writable.set()
        # Frames pushed while the writer catches up queue behind it, not beside it.
        outbox.push(f"{round_}-during", 10)
        expected.append(f"{round_}-during")
        await settle()
        assert outbox.writer is None

    assert transport.written == expected
    assert len(set(transport.written)) == len(expected) == 5 * 52
    assert outbox.bytes == 0 and not slow


async def test_a_client_that_stays_paused_is_let_go_once_within_its_byte_bound():
    transport = Transport()
    outbox, slow = outbox_for(transport, max_bytes=1000)
    outbox.push("first", 100)
    transport.writable.clear()
    for i in range(30):
        outbox.push(f"frame {i}", 100)

    assert slow == [1]  # once, at the frame past 1,000 bytes
    assert outbox.stopped
    await settle()
    transport.writable.set()
    await settle()
    assert transport.written == ["first"]  # the waiting send was cancelled with the rest


async def test_a_client_is_let_go_past_its_frame_bound_too():
    transport = Transport()
    outbox, slow = outbox_for(transport, max_frames=10)
    transport.writable.clear()
    for i in range(20):
        outbox.push(f"frame {i}", 1)
    assert slow == [1]
    assert transport.sends == 1


async def test_frames_pushed_before_the_socket_opens_go_first_in_order():
    transport = Transport()
    outbox = Outbox(send=transport.send, too_slow=lambda: None, max_frames=10, max_bytes=1000)
    outbox.push("hello", 5)
    outbox.push("early", 5)
    assert transport.written == []

    outbox.start()
    outbox.push("live", 4)

    assert transport.written == ["hello", "early", "live"]


async def test_frames_waiting_for_the_open_follow_a_send_that_must_wait():
    transport = Transport()
    outbox = Outbox(send=transport.send, too_slow=lambda: None, max_frames=10, max_bytes=1000)
    for name in ("hello", "one", "two"):
        outbox.push(name, 3)
    transport.writable.clear()
    outbox.start()
    outbox.push("three", 5)
    transport.writable.set()
    await settle()
    assert transport.written == ["hello", "one", "two", "three"]
    assert outbox.writer is None and outbox.bytes == 0


async def test_a_send_refused_by_a_gone_client_stops_the_outbox_quietly():
    class Gone(Exception):
        pass

    async def send(message):
        raise Gone

    outbox = Outbox(send=send, too_slow=lambda: None, max_frames=10, max_bytes=1000)
    outbox.start()
    outbox.push("lost", 4)  # does not raise into the hub's hand-out loop
    assert outbox.stopped
    outbox.push("after", 5)
    assert outbox.writer is None


async def test_stopping_cancels_a_waiting_send():
    transport = Transport()
    outbox, _ = outbox_for(transport)
    transport.writable.clear()
    outbox.push("stuck", 5)
    writer = outbox.writer
    outbox.stop()
    await settle()
    assert writer.cancelled()
    transport.writable.set()
    await settle()
    assert transport.written == []
