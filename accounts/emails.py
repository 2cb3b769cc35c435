"""The account emails (verify an address, reset a password): their links and bodies, queued in
the outbox (jobs.email.queue_email) inside the caller's transaction for the worker to send.

Both hold a one-time link: they are queued `sensitive` (the admin never shows the body, which is
blanked once sent) and expire with their link; their keys, which the admin shows, carry digests,
never a token. A verification email goes to an address nobody proved yet: it carries no text a
user chose (display name, username), so it cannot be used to send someone else's words.

A verification link carries a signed token (django.core.signing, its own salt) naming the user
and a digest of the address it was sent to, and when it was issued: it verifies that address of
that account only, so a link sent to an old address cannot verify a new one, and it expires.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.template import loader
from django.urls import reverse
from django.utils import timezone

from jobs.email import queue_email
from jobs.models import OutboundEmail

from .errors import VerificationLinkExpired, VerificationLinkInvalid

VERIFY_SALT = "accounts.verify-email"
# Long enough for an email read the next working day (or after a weekend), short enough that an
# old email found in a mailbox later is of no use.
VERIFICATION_MAX_AGE = timedelta(days=3)
VERIFY_KEY_PREFIX = "verify-email"
ADDRESS_CHANGED_KEY_PREFIX = "email-changed"
PASSWORD_RESET_KEY_PREFIX = "password-reset"  # noqa: S105 (a key prefix, not a password)


def site_url() -> str:
    """Where the links in emails point (PARLEY_SITE_URL): an email has no request to take it from."""
    return settings.PARLEY["SITE_URL"].rstrip("/")


def absolute_url(path: str) -> str:
    return site_url() + path


def address_digest(address: str) -> str:
    """A short digest of an address, compared case-insensitively as addresses are unique
    (accounts/migrations/0005): what tokens and outbox keys carry instead of the address."""
    return hashlib.sha256(address.strip().casefold().encode()).hexdigest()[:16]


def same_address(first: str, second: str) -> bool:
    return first.strip().casefold() == second.strip().casefold()


# --- the verification link ---------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationClaim:
    """What a valid verification token says: this user's address with this digest, issued then."""

    user_id: int
    digest: str
    issued_at: int


def verification_token(*, user_id: int, address: str, issued_at: int) -> str:
    payload = {"u": user_id, "a": address_digest(address), "t": issued_at}
    return signing.dumps(payload, salt=VERIFY_SALT)


def read_verification_token(token: str, *, now: datetime) -> VerificationClaim:
    """The token's claim, or VerificationLinkInvalid (tampered, cut short, another salt's) or
    VerificationLinkExpired (older than VERIFICATION_MAX_AGE at `now`)."""
    try:
        payload = signing.loads(token, salt=VERIFY_SALT)
    except signing.BadSignature:
        raise VerificationLinkInvalid() from None
    try:
        claim = VerificationClaim(
            user_id=int(payload["u"]), digest=str(payload["a"]), issued_at=int(payload["t"])
        )
    except (TypeError, KeyError, ValueError):
        raise VerificationLinkInvalid() from None
    if now.timestamp() - claim.issued_at > VERIFICATION_MAX_AGE.total_seconds():
        raise VerificationLinkExpired()
    return claim


def verification_key(*, user_id: int, address: str, issued_at: int) -> str:
    """The outbox key: one email per (user, address, moment asked). A retried request or task
    records nothing new; the address is a digest, as a key is at most 200 characters."""
    return f"{VERIFY_KEY_PREFIX}:{user_id}:{address_digest(address)}:{issued_at}"


def verification_times(*, user_id: int | None = None, address: str | None = None) -> list[int]:
    """When verification emails were queued (from the outbox's keys), newest first: for this
    user, or to this address whichever account asked (the digest is the key's third part)."""
    keys = OutboundEmail.objects.filter(key__startswith=f"{VERIFY_KEY_PREFIX}:")
    if user_id is not None:
        keys = keys.filter(key__startswith=f"{VERIFY_KEY_PREFIX}:{user_id}:")
    if address is not None:
        keys = keys.filter(key__contains=f":{address_digest(address)}:")
    times = []
    for key in keys.values_list("key", flat=True):
        stamp = key.rpartition(":")[2]
        if stamp.isdigit():
            times.append(int(stamp))
    return sorted(times, reverse=True)


def verification_sent(*, user_id: int, address: str, now: datetime) -> bool:
    """Whether a verification email for this account's address was queued and its link still works."""
    newest = verification_times(user_id=user_id, address=address)
    return bool(newest) and now.timestamp() - newest[0] <= VERIFICATION_MAX_AGE.total_seconds()


def queue_verification_email(user, *, now: datetime) -> OutboundEmail:
    """Queue the email with the link that verifies `user.email`; call inside the transaction
    that set the address (or decided to send again). Its text names neither the account nor
    its owner: the address is not proved to be theirs."""
    issued_at = int(now.timestamp())
    token = verification_token(user_id=user.pk, address=user.email, issued_at=issued_at)
    context = {
        "address": user.email,
        "link": absolute_url(reverse("verify_email", args=[token])),
        "profile_link": absolute_url(reverse("profile")),
        "valid_days": VERIFICATION_MAX_AGE.days,
        "site_url": site_url(),
    }
    return queue_email(
        key=verification_key(user_id=user.pk, address=user.email, issued_at=issued_at),
        to=user.email,
        subject="Verify your email address for Parley",
        text=loader.render_to_string("accounts/email/verify_email.txt", context),
        html=loader.render_to_string("accounts/email/verify_email.html", context),
        sensitive=True,
        expires_at=now + VERIFICATION_MAX_AGE,
    )


def queue_address_changed_notice(user, *, old_address: str, now: datetime) -> OutboundEmail:
    """Tell the verified address an account had that it no longer has it: whoever took over a
    session and knew the password, the owner hears of it where they last proved to read."""
    issued_at = int(now.timestamp())
    context = {
        "user": user,
        "old_address": old_address,
        "new_address": user.email,
        "site_url": site_url(),
    }
    return queue_email(
        key=f"{ADDRESS_CHANGED_KEY_PREFIX}:{user.pk}:{address_digest(old_address)}:{issued_at}",
        to=old_address,
        subject="Your Parley email address was changed",
        text=loader.render_to_string("accounts/email/address_changed.txt", context),
        html=loader.render_to_string("accounts/email/address_changed.html", context),
    )


# --- the password reset ------------------------------------------------------------------------


def password_reset_key(*, user_id: int, token: str) -> str:
    """One email per reset token; the key names the token by a digest, as the admin shows keys
    (the token in it would let whoever may view the outbox reset the password)."""
    return f"{PASSWORD_RESET_KEY_PREFIX}:{user_id}:{hashlib.sha256(token.encode()).hexdigest()[:16]}"


def password_reset_times(*, user_id: int, since: datetime) -> int:
    """How many reset emails were queued for this user since then."""
    return OutboundEmail.objects.filter(
        key__startswith=f"{PASSWORD_RESET_KEY_PREFIX}:{user_id}:", created_at__gte=since
    ).count()


def queue_password_reset_email(
    *,
    user,
    to: str,
    uid: str,
    token: str,
    subject_template: str,
    text_template: str,
    html_template: str,
    now: datetime | None = None,
) -> OutboundEmail:
    now = now or timezone.now()
    context = {
        "user": user,
        "address": to,
        "link": absolute_url(reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})),
        "valid_hours": round(settings.PASSWORD_RESET_TIMEOUT / 3600),
        "site_url": site_url(),
    }
    subject = "".join(loader.render_to_string(subject_template, context).splitlines())
    return queue_email(
        key=password_reset_key(user_id=user.pk, token=token),
        to=to,
        subject=subject,
        text=loader.render_to_string(text_template, context),
        html=loader.render_to_string(html_template, context),
        sensitive=True,
        expires_at=now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT),
    )
