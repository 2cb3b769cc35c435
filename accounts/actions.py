"""Account actions with effects beyond the request: ending or re-checking open sockets; the
email address (set, verified by a link, verification sent again)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from messaging.realtime import outlet

from . import emails
from .errors import (
    AddressVerifiedElsewhere,
    AlreadyVerified,
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
# And at most 3 an hour and 10 a day to one address, whichever accounts asked: throwaway
# sign-ups must not turn Parley's sender into a mail bomb aimed at someone else's mailbox.
# Past these, sign-up and the profile still save the address and send nothing; the profile says
# no link is on its way (verification_state).
ADDRESS_EMAILS_PER_HOUR = 3
ADDRESS_EMAILS_PER_DAY = 10


def normalize_address(address: str) -> str:
    """An address as stored: trimmed, its domain lower-cased (the part that is case-insensitive
    by the standard); the local part is kept as typed, and compared case-insensitively."""
    return User.objects.normalize_email((address or "").strip())


def address_verified_elsewhere(address: str, *, exclude_user_id: int | None = None) -> bool:
    """Whether another account has this address verified, in any case (the rule of migration
    0005: only a verified address is one account's)."""
    others = User.objects.filter(email__iexact=address, email_verified_at__isnull=False)
    if exclude_user_id is not None:
        others = others.exclude(pk=exclude_user_id)
    return any(emails.same_address(address, other) for other in others.values_list("email", flat=True))


def _wait(stamps: list[int], *, moment: float, limit: int, window: int) -> float:
    """Seconds until fewer than `limit` of these times (newest first) lie within `window`; 0: now."""
    recent = [stamp for stamp in stamps if moment - stamp < window]
    return window - (moment - recent[limit - 1]) if len(recent) >= limit else 0.0


def check_verification_rate(*, user_id: int, now: datetime) -> None:
    """VerificationRateLimited (with the seconds to wait) when this account was sent
    verification emails too recently; the outbox's keys are the record, shared by every process."""
    moment = now.timestamp()
    times = emails.verification_times(user_id=user_id)
    wait = max(
        _wait(times, moment=moment, limit=1, window=VERIFICATION_COOLDOWN_SECONDS),
        _wait(times, moment=moment, limit=VERIFICATION_EMAILS_PER_HOUR, window=3600),
    )
    if wait:
        raise VerificationRateLimited(wait)


def address_rate_wait(address: str, *, now: datetime) -> float:
    """Seconds until this address may be sent another verification email (0: now)."""
    moment = now.timestamp()
    times = emails.verification_times(address=address)
    return max(
        _wait(times, moment=moment, limit=ADDRESS_EMAILS_PER_HOUR, window=3600),
        _wait(times, moment=moment, limit=ADDRESS_EMAILS_PER_DAY, window=86400),
    )


def _queue_verification_if_allowed(user: User, *, now: datetime) -> bool:
    """Queue the verification email of `user.email` unless another account has the address
    verified (its owner gets no mail for someone else's action) or the address had its share
    of verification emails; whether it was queued."""
    if address_verified_elsewhere(user.email, exclude_user_id=user.pk):
        return False
    if address_rate_wait(user.email, now=now):
        return False
    emails.queue_verification_email(user, now=now)
    return True


def create_account(
    *, username: str, password: str, display_name: str = "", email: str = "", now: datetime | None = None
) -> User:
    """A new account; with an address (unverified, whoever else has it), the email that verifies
    it is queued in the same transaction when the address may get one (see
    _queue_verification_if_allowed; the profile says when it was not)."""
    now = now or timezone.now()
    email = normalize_address(email)
    with transaction.atomic():
        user = User.objects.create_user(
            username=username, password=password, display_name=display_name, email=email
        )
        if email:
            _queue_verification_if_allowed(user, now=now)
    return user


def change_email(*, user: User, address: str, now: datetime | None = None) -> bool:
    """Set the account's address. A new address is unverified (`email_verified_at` cleared) and
    gets a verification email when it may (as at sign-up); no address clears it too; a verified
    address that is replaced is told so. The same address in another case is kept as typed and
    stays verified. Returns whether the address changed. VerificationRateLimited (this account
    asked too often; nothing changed then)."""
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
        check_verification_rate(user_id=user.pk, now=now)
    old_address, was_verified = user.email, user.email_verified
    with transaction.atomic():
        user.email = address
        user.email_verified_at = None
        user.save(update_fields=["email", "email_verified_at"])
        if address:
            _queue_verification_if_allowed(user, now=now)
        if was_verified:
            emails.queue_address_changed_notice(user, old_address=old_address, now=now)
    return True


def resend_verification_email(*, user: User, now: datetime | None = None) -> None:
    """Another verification email to the account's unverified address. NoEmailAddress,
    AlreadyVerified, AddressVerifiedElsewhere or VerificationRateLimited (this account, or
    this address, had its share)."""
    now = now or timezone.now()
    if not user.email:
        raise NoEmailAddress()
    if user.email_verified:
        raise AlreadyVerified()
    if address_verified_elsewhere(user.email, exclude_user_id=user.pk):
        raise AddressVerifiedElsewhere()
    check_verification_rate(user_id=user.pk, now=now)
    wait = address_rate_wait(user.email, now=now)
    if wait:
        raise VerificationRateLimited(wait)
    with transaction.atomic():
        emails.queue_verification_email(user, now=now)


def verification_state(*, user: User, now: datetime | None = None) -> str:
    """What the profile says of the account's address: "none", "verified", "elsewhere" (another
    account has it verified), "sent" (a link for it is on its way and still works) or "not_sent"
    (none was sent, for the address's rate limit, or the last one expired)."""
    now = now or timezone.now()
    if not user.email:
        return "none"
    if user.email_verified:
        return "verified"
    if address_verified_elsewhere(user.email, exclude_user_id=user.pk):
        return "elsewhere"
    return "sent" if emails.verification_sent(user_id=user.pk, address=user.email, now=now) else "not_sent"


@dataclass(frozen=True)
class Verified:
    user: User
    # The address was verified already (this link, or another one, was used before).
    already: bool


def verify_email(*, token: str, now: datetime | None = None) -> Verified:
    """Mark the address a verification link was sent to as verified, if it is still the
    account's and no other account has it verified; in the same transaction the address leaves
    the other accounts that hold it unverified (only a verified address is one account's).
    VerificationLinkInvalid, VerificationLinkExpired, VerificationLinkStale or
    AddressVerifiedElsewhere."""
    now = now or timezone.now()
    claim = emails.read_verification_token(token, now=now)
    user = User.objects.filter(pk=claim.user_id, is_active=True).first()
    if user is None:
        raise VerificationLinkInvalid()
    if not user.email or emails.address_digest(user.email) != claim.digest:
        raise VerificationLinkStale()
    if user.email_verified_at is not None:
        return Verified(user=user, already=True)
    if address_verified_elsewhere(user.email, exclude_user_id=user.pk):
        raise AddressVerifiedElsewhere()
    try:
        with transaction.atomic():
            # Conditional on the address the link names still being the account's, unverified:
            # a change of address committed meanwhile makes this update nothing. Another account
            # verifying the address meanwhile: the unique index refuses this one.
            updated = User.objects.filter(
                pk=user.pk, email=user.email, email_verified_at__isnull=True
            ).update(email_verified_at=now)
            if updated:
                _release_unverified_copies(user)
    except IntegrityError:
        raise AddressVerifiedElsewhere() from None
    user.refresh_from_db(fields=["email", "email_verified_at"])
    if not updated and (not user.email or emails.address_digest(user.email) != claim.digest):
        raise VerificationLinkStale()
    return Verified(user=user, already=not updated)


def _release_unverified_copies(user: User) -> None:
    """The address is now `user`'s: the accounts that typed it and never proved it lose it (their
    pending links go stale; the profile says they have no address)."""
    others = User.objects.filter(~Q(pk=user.pk), email__iexact=user.email, email_verified_at__isnull=True)
    same = [pk for pk, other in others.values_list("pk", "email") if emails.same_address(other, user.email)]
    if same:
        User.objects.filter(pk__in=same).update(email="")
