"""The refusals of setting and cancelling a reminder, each with its stable code (docs/protocol.md)."""

from messaging.errors import NotFound, ParleyError


class NoSuchMessage(NotFound):
    # `not_found` for a message in a room the user may not read as for one that does not exist,
    # with the same words: a reminder must not tell whether a private room's message is there.
    default_detail = "No such message."


class NoSuchReminder(NotFound):
    default_detail = "No such reminder."


class InThePast(ParleyError):
    code = "in_the_past"
    default_detail = "That time has passed. Choose a time in the future."


class TooFarAhead(ParleyError):
    code = "too_far_ahead"

    def __init__(self, days: int):
        self.days = days
        super().__init__(f"A reminder can be at most {days} days ahead.")

    def extra(self) -> dict:
        return {"max_days": self.days}


class ReminderLimit(ParleyError):
    code = "reminder_limit"

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"You have {limit} reminders pending, as many as you can. Cancel one first.")

    def extra(self) -> dict:
        return {"limit": self.limit}


class AlreadyDelivered(ParleyError):
    code = "already_delivered"
    default_detail = "This reminder was delivered already."
