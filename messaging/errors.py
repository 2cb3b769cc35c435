"""The errors a client can be answered with; each carries the protocol's stable code."""


class ParleyError(Exception):
    code = "server_error"
    default_detail = "Something went wrong on the server. Please try again."

    def __init__(self, detail: str | None = None):
        self.detail = detail or self.default_detail
        super().__init__(self.detail)

    def extra(self) -> dict:
        """Fields the answer carries besides code and detail."""
        return {}


class Unauthenticated(ParleyError):
    code = "unauthenticated"
    default_detail = "Your session has ended. Please log in again."


class BadRequest(ParleyError):
    code = "bad_request"
    default_detail = "The request is malformed."


class UnknownType(ParleyError):
    code = "unknown_type"
    default_detail = "Unknown frame type."


class NotMember(ParleyError):
    code = "not_member"
    default_detail = "You are not a member of this room."


class NotFound(ParleyError):
    code = "not_found"
    default_detail = "No such room."


class TooLarge(ParleyError):
    code = "too_large"
    default_detail = "The message is too long."


class RateLimited(ParleyError):
    code = "rate_limited"
    default_detail = "You are sending too fast."

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(f"You are sending too fast. Try again in {retry_after:.1f} s.")

    def extra(self) -> dict:
        return {"retry_after": round(self.retry_after, 3)}


class PermissionDenied(ParleyError):
    code = "forbidden"
    default_detail = "You may not do that in this room."


class NoSuchMessage(ParleyError):
    # Not `not_found`: that one means the room, and a client drops a room it is told of so.
    code = "no_such_message"
    default_detail = "No such message in this room."


class MessageDeleted(ParleyError):
    code = "message_deleted"
    default_detail = "This message was deleted."


class ThreadDepth(ParleyError):
    code = "thread_depth"
    default_detail = "This message is a reply in a thread; threads are one level deep, so reply to its root."


class TooLate(ParleyError):
    code = "too_late"
    default_detail = "It is too late to change this message."


class ReactionLimit(ParleyError):
    code = "reaction_limit"
    default_detail = "This message has as many reactions as it can take."


class NoSuchUser(ParleyError):
    # A direct conversation names people by username; one of them does not exist.
    code = "no_such_user"
    default_detail = "There is no such user."


class UserInactive(ParleyError):
    code = "user_inactive"
    default_detail = "This account is deactivated; it takes no direct messages."


class TooManyPeople(ParleyError):
    code = "too_many_people"
    default_detail = "A direct conversation has too many people."
