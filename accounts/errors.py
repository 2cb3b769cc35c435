"""The errors of the account pages (email address, verification link), each with a stable code."""

from messaging.errors import ParleyError


class AddressVerifiedElsewhere(ParleyError):
    # Only a verified address is one account's (accounts/migrations/0005): an unverified one
    # may be on several, and the first to open its link keeps it.
    code = "address_verified_elsewhere"
    default_detail = (
        "This email address is verified on another account, so it cannot be verified for this one. "
        "If it is yours, log in to that account (Forgot password? sends its reset link to this "
        "address), or use another address here."
    )


class NoEmailAddress(ParleyError):
    code = "no_email"
    default_detail = "Your account has no email address to verify. Add one first."


class AlreadyVerified(ParleyError):
    code = "already_verified"
    default_detail = "Your email address is already verified."


class VerificationRateLimited(ParleyError):
    code = "rate_limited"

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(
            f"A verification email was sent a moment ago. Try again in {max(1, round(retry_after))} s."
        )

    def extra(self) -> dict:
        return {"retry_after": round(self.retry_after, 3)}


class VerificationLinkInvalid(ParleyError):
    code = "verification_invalid"
    default_detail = (
        "This verification link is not valid: it may be incomplete. Open the link from the most "
        "recent email, or send a new one from your profile."
    )


class VerificationLinkExpired(ParleyError):
    code = "verification_expired"
    default_detail = (
        "This verification link has expired. Send a new one from your profile (Resend verification email)."
    )


class VerificationLinkStale(ParleyError):
    # The link was for an address the account no longer has: it proves nothing about the
    # current one.
    code = "verification_stale"
    default_detail = (
        "This link was sent to an email address that is no longer on the account, so it cannot "
        "verify the current one. Use the link in the newest email."
    )
