"""A real SMTP server on 127.0.0.1 for the tests (aiosmtpd), and what it received.

    mailbox = Mailbox().start()
    env["EMAIL_URL"] = mailbox.url        # the worker sends through Django's SMTP backend
    [email] = mailbox.wait_for(1)         # email.message.EmailMessage objects
    mailbox.stop()

Faults: ``stall()`` holds every message at DATA, unanswered, until ``release()`` (which then
answers 451, so a held message never counts as received: what a server that died mid-send
did); ``refuse(n)`` answers the next n messages with 451 (a temporary failure).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.harness import HOST, free_port


class _Handler:
    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd names it)
        box = self.mailbox
        if box.stalled:
            with box.lock:
                box.held += 1
            while box.stalled:
                await asyncio.sleep(0.05)
            return "451 Held and dropped by the test"
        with box.lock:
            if box.refusals > 0:
                box.refusals -= 1
                box.refused += 1
                return "451 Try again later (the test refused it)"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            box.received.append(message)
            box.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class Mailbox:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.received: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.lock = threading.Lock()
        self.stalled = False
        self.held = 0
        self.refusals = 0
        self.refused = 0
        self.controller = Controller(_Handler(self), hostname=HOST, port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    def start(self) -> Mailbox:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.stalled = False
        self.controller.stop()

    def stall(self) -> None:
        self.stalled = True

    def release(self) -> None:
        self.stalled = False

    def refuse(self, count: int) -> None:
        with self.lock:
            self.refusals = count

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.recipients.clear()
            self.held = self.refused = self.refusals = 0
        self.stalled = False

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        """At least `count` messages (all received so far), or AssertionError after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        got = self.messages()
        raise AssertionError(
            f"the mailbox received {len(got)} of {count} messages in {timeout:.0f} s: {subjects(got)}"
        )

    def wait_held(self, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.held < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no message reached DATA within {timeout:.0f} s")
            time.sleep(0.05)


def subjects(messages: list[EmailMessage]) -> list[str]:
    return [str(message["Subject"]) for message in messages]


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
