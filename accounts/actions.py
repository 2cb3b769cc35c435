"""Account actions with effects beyond the request: ending or re-checking open sockets; the
email address (set, verified by a link, verification sent again)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from messaging.realtime import outlet

from . import emails
from .errors import (
    AlreadyVerified,
    EmailTaken,
    NoEmailAddress,
    VerificationLinkInvalid,
    VerificationLinkStale,
    VerificationRateLimited,
)
from .models import User


def end_session_sockets(*, user_id: int, session_key: str) -> None:
    """Close the sockets opened with this session (close code 4401); other sessions keep theirs."""
    outlet.signal_user_sync(user_id, outlet.SESSION_ENDED_EVENT, session_key=session_key)


def recheck_user_sockets(*, user_id: int) -> None:
    """The account changed (deactivated, password set): every open socket of the user re-checks
    its session at once and closes (4401) if it no longer holds. A lost event is made good by
    the sockets' periodic audit (messaging/realtime/hub.py, AUDIT_SECONDS)."""
    outlet.signal_user_sync(user_id, outlet.RECHECK_EVENT)


# --- email address and its verification ---------------------------------------------------------

# A verification email at most once a minute and five an hour per account: enough for "it did
# not come, send it again", too few to flood a mailbox (the address is the user's to choose).
VERIFICATION_COOLDOWN_SECONDS = 60
VERIFICATION_EMAILS_PER_HOUR = 5


def normalize_address(address: str) -> str:
    """An address as stored: trimmed, its domain lower-cased (the part that is case-insensitive
    by the standard); the local part is kept as typed, and compared case-insensitively."""
    return User.objects.normalize_email((address or "").strip())


def address_in_use(address: str, *, exclude_user_id: int | None = None) -> bool:
    """Whether another account has this address, in any case (the rule of migration 0005)."""
    others = User.objects.filter(email__iexact=address)
    if exclude_user_id is not None:
        others = others.exclude(pk=exclude_user_id)
    return any(emails.same_address(address, other) for other in others.values_list("email", flat=True))


def check_verification_rate(*, user_id: int, now: datetime) -> None:
    """VerificationRateLimited (with the seconds to wait) when this account was sent
    verification emails too recently; the outbox's keys are the record, shared by every process."""
    moment = now.timestamp()
    recent = [stamp for stamp in emails.verification_times(user_id=user_id) if moment - stamp < 3600]
    if recent and moment - recent[0] < VERIFICATION_COOLDOWN_SECONDS:
        raise VerificationRateLimited(VERIFICATION_COOLDOWN_SECONDS - (moment - recent[0]))
    if len(recent) >= VERIFICATION_EMAILS_PER_HOUR:
        raise VerificationRateLimited(3600 - (moment - recent[VERIFICATION_EMAILS_PER_HOUR - 1]))


def create_account(
    *, username: str, password: str, display_name: str = "", email: str = "", now: datetime | None = None
) -> User:
    """A new account; with an address, the email that verifies it is queued in the same
    transaction. EmailTaken if another account has the address (also when one took it meanwhile:
    the database's constraint decides)."""
    now = now or timezone.now()
    email = normalize_address(email)
    try:
        with transaction.atomic():
            if email and address_in_use(email):
                raise EmailTaken()
            user = User.objects.create_user(
                username=username, password=password, display_name=display_name, email=email
            )
            if email:
                emails.queue_verification_email(user, now=now)
    except IntegrityError:
        if email and address_in_use(email):
            raise EmailTaken() from None
        raise
    return user


def change_email(*, user: User, address: str, now: datetime | None = None) -> bool:
    """Set the account's address. A new address is unverified (`email_verified_at` cleared) and
    gets a verification email; no address clears it too; a verified address that is replaced
    is told so. The same address in another case is
    kept as typed and stays verified. Returns whether the address changed.
    EmailTaken, or VerificationRateLimited (nothing changed then)."""
    now = now or timezone.now()
    address = normalize_address(address)
    if address and emails.same_address(address, user.email):
        if address != user.email:
            user.email = address
            user.save(update_fields=["email"])
        return False
    if not address and not user.email:
        return False
    if address:
        if address_in_use(address, exclude_user_id=user.pk):
            raise EmailTaken()
        check_verification_rate(user_id=user.pk, now=now)
    old_address, was_verified = user.email, user.email_verified
    try:
        with transaction.atomic():
            user.email = address
            user.email_verified_at = None
            user.save(update_fields=["email", "email_verified_at"])
            if address:
                emails.queue_verification_email(user, now=now)
            if was_verified:
                emails.queue_address_changed_notice(user, old_address=old_address, now=now)
    except IntegrityError:
        user.refresh_from_db(fields=["email", "email_verified_at"])
        raise EmailTaken() from None
    return True


def resend_verification_email(*, user: User, now: datetime | None = None) -> None:
    """Another verification email to the account's unverified address.
    NoEmailAddress, AlreadyVerified or VerificationRateLimited."""
    now = now or timezone.now()
    if not user.email:
        raise NoEmailAddress()
    if user.email_verified:
        raise AlreadyVerified()
    check_verification_rate(user_id=user.pk, now=now)
    with transaction.atomic():
        emails.queue_verification_email(user, now=now)


@dataclass(frozen=True)
class Verified:
    user: User
    # The address was verified already (this link, or another one, was used before).
    already: bool


def verify_email(*, token: str, now: datetime | None = None) -> Verified:
    """Mark the address a verification link was sent to as verified, if it is still the
    account's. VerificationLinkInvalid, VerificationLinkExpired or VerificationLinkStale."""
    now = now or timezone.now()
    claim = emails.read_verification_token(token, now=now)
    user = User.objects.filter(pk=claim.user_id, is_active=True).first()
    if user is None:
        raise VerificationLinkInvalid()
    if not user.email or emails.address_digest(user.email) != claim.digest:
        raise VerificationLinkStale()
    if user.email_verified_at is not None:
        return Verified(user=user, already=True)
    # Conditional on the address the link names still being the account's, unverified: a change
    # of address committed meanwhile makes this update nothing.
    updated = User.objects.filter(pk=user.pk, email=user.email, email_verified_at__isnull=True).update(
        email_verified_at=now
    )
    user.refresh_from_db(fields=["email", "email_verified_at"])
    if not updated and (not user.email or emails.address_digest(user.email) != claim.digest):
        raise VerificationLinkStale()
    return Verified(user=user, already=not updated)
