"""The refusals of scheduling, each with its stable code (the answers of messaging/errors.py)."""

from messaging.errors import ParleyError


class NoSuchScheduled(ParleyError):
    # The same for another person's scheduled message as for one that does not exist.
    code = "no_such_scheduled"
    default_detail = "No such scheduled message."


class AlreadySent(ParleyError):
    code = "already_sent"
    default_detail = "This message has already been sent; edit or delete it in its room."


class NotPending(ParleyError):
    code = "not_pending"
    default_detail = "This scheduled message was cancelled."


class SendAtInPast(ParleyError):
    code = "send_at_in_past"
    default_detail = "Choose a time in the future."


class SendAtTooFar(ParleyError):
    code = "send_at_too_far"

    def __init__(self, days: int):
        self.days = days
        super().__init__(f"A message can be scheduled at most {days} days ahead.")

    def extra(self) -> dict:
        return {"max_days": self.days}


class TooManyScheduled(ParleyError):
    code = "too_many_scheduled"

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"You have {limit} scheduled messages waiting, the most there can be.")

    def extra(self) -> dict:
        return {"limit": self.limit}


# The HTTP status of each code above (messaging's own codes keep theirs: messaging/views.py).
HTTP_STATUS = {
    "no_such_scheduled": 404,
    "already_sent": 409,
    "not_pending": 409,
    "send_at_in_past": 400,
    "send_at_too_far": 400,
    "too_many_scheduled": 409,
}
