"""Accounts by email: the address on sign-up and the profile (one account per verified address,
in any case; an unverified one squats nothing), its verification by a signed link, the password
reset (verified addresses only, never saying whether an address exists), the missed-message
email setting; what is queued is read from the outbox (jobs.models.OutboundEmail), and the last
tests send it through a real worker to a real SMTP server (tests/worker.py, tests/mailbox.py)."""

import hashlib
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import actions, emails
from accounts.errors import (
    AddressVerifiedElsewhere,
    AlreadyVerified,
    VerificationLinkExpired,
    VerificationLinkInvalid,
    VerificationLinkStale,
    VerificationRateLimited,
)
from accounts.forms import VerifiedPasswordResetForm
from jobs.email import REDACTED, send_queued_email
from jobs.models import OutboundEmail

from .chat import PASSWORD
from .mailbox import html_of, text_of
from .page_ids import IdsAndReferences

pytestmark = pytest.mark.django_db

User = get_user_model()
SITE = "http://parley.example"
VERIFY_LINK = re.compile(r"https?://[^\s\"<>]+/accounts/email/verify/[^\s\"<>/]+/")
RESET_LINK = re.compile(r"https?://[^\s\"<>]+/accounts/password/reset/[^\s\"<>/]+/[^\s\"<>/]+/")
NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.PARLEY = {**settings.PARLEY, "SITE_URL": SITE}


def queued(prefix: str) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(key__startswith=prefix).order_by("pk"))


def verification_emails(user) -> list[OutboundEmail]:
    return queued(f"verify-email:{user.pk}:")


def reset_emails(user) -> list[OutboundEmail]:
    return queued(f"password-reset:{user.pk}:")


def path_of(link: str) -> str:
    return urlsplit(link).path


def link_in(email: OutboundEmail, pattern: re.Pattern = VERIFY_LINK) -> str:
    """The one link in the plain text, which the HTML carries too (as its href and its text)."""
    [link] = set(pattern.findall(email.text))
    assert link.startswith(SITE + "/")
    assert f'href="{link}"' in email.html
    return link


def with_address(user, address: str, *, verified: bool = False):
    user.email = address
    user.email_verified_at = timezone.now() if verified else None
    user.save(update_fields=["email", "email_verified_at"])
    return user


def sign_up(client, username: str, email: str = ""):
    return client.post(
        reverse("signup"),
        {
            "username": username,
            "display_name": username.title(),
            "email": email,
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )


# --- sign-up and uniqueness ----------------------------------------------------------------------


def test_sign_up_with_an_email_queues_one_verification_email_with_an_absolute_link(client):
    response = sign_up(client, "erin", "Erin@Example.COM")
    assert response.status_code == 302 and response["Location"] == reverse("home")
    erin = User.objects.get(username="erin")
    # The domain is lower-cased (case-insensitive by the standard); the local part stays as typed.
    assert erin.email == "Erin@example.com" and erin.email_verified_at is None and not erin.email_verified
    [email] = verification_emails(erin)
    assert email.to == "Erin@example.com" and email.subject == "Verify your email address for Parley"
    assert email.sent_at is None  # the worker sends it; the request only recorded it
    link = link_in(email)
    assert path_of(link).startswith("/accounts/email/verify/")
    assert email.text.startswith("Hello,") and "3 days" in email.text
    # A one-time link: hidden in the admin, blanked once sent, not sent after it expires.
    assert email.sensitive
    assert abs(email.expires_at - email.created_at - emails.VERIFICATION_MAX_AGE) < timedelta(seconds=2)


def test_sign_up_without_an_email_is_fine_and_queues_nothing(client):
    page = client.get(reverse("signup")).content.decode()
    assert "Email (optional)" in page and 'autocomplete="email"' in page
    assert sign_up(client, "frank").status_code == 302
    frank = User.objects.get(username="frank")
    assert frank.email == "" and OutboundEmail.objects.count() == 0


def test_an_unverified_address_squats_nothing_and_sign_up_never_says_taken(client, alice, bob):
    # The squatter typed the owner's address and never opened the link.
    with_address(alice, "Owner@example.com")
    response = sign_up(client, "owner", "owner@EXAMPLE.com")
    assert response.status_code == 302
    page = Client().get(reverse("signup")).content.decode()
    assert "Create an account" in page and "already uses" not in page and "taken" not in page
    owner = User.objects.get(username="owner")
    [email] = verification_emails(owner)
    assert email.to == "owner@example.com"
    # The profile accepts it too, and the action: three accounts, one unverified address.
    actions.change_email(user=bob, address="OWNER@example.com")
    assert User.objects.filter(email__iexact="owner@example.com").count() == 3

    # The owner opens the link: the address is theirs, and leaves the accounts that only typed it.
    assert client.get(path_of(link_in(email))).status_code == 200
    owner.refresh_from_db()
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert owner.email_verified and alice.email == "" and bob.email == ""
    assert alice.email_verified_at is None and bob.email_verified_at is None


def test_a_password_reset_goes_to_the_one_account_that_verified_the_address(client, alice, bob, carol):
    with_address(alice, "shared@example.com")
    with_address(bob, "Shared@example.com", verified=True)
    with_address(carol, "SHARED@example.com")
    client.post(reverse("password_reset"), {"email": "shared@example.com"})
    assert reset_emails(alice) == [] and reset_emails(carol) == []
    [email] = reset_emails(bob)
    assert email.to == "Shared@example.com" and OutboundEmail.objects.count() == 1


def test_signing_up_with_an_address_another_account_verified_sends_it_nothing(client, alice):
    with_address(alice, "alice@example.com", verified=True)
    response = sign_up(client, "erin", "ALICE@example.com")
    assert response.status_code == 302  # accepted, as for any address
    erin = User.objects.get(username="erin")
    assert erin.email == "ALICE@example.com" and not erin.email_verified
    # Its owner gets no mail because of someone else's sign-up.
    assert OutboundEmail.objects.count() == 0
    assert actions.verification_state(user=erin) == "elsewhere"
    page = client.get(reverse("profile")).content.decode()
    assert "This address could not be verified: it belongs to another account" in page
    assert "We sent a link" not in page
    with pytest.raises(AddressVerifiedElsewhere):
        actions.resend_verification_email(user=erin)
    assert OutboundEmail.objects.count() == 0


def test_a_link_for_an_address_another_account_verified_meanwhile_is_refused(client, alice, bob):
    with_address(alice, "shared@example.com")
    actions.resend_verification_email(user=alice)
    link = link_in(verification_emails(alice)[0])
    with_address(bob, "shared@example.com", verified=True)
    response = client.get(path_of(link))
    assert response.status_code == 400
    assert "This address belongs to another account" in response.content.decode()
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert not alice.email_verified and bob.email_verified and bob.email == "shared@example.com"


def test_the_database_refuses_a_second_account_verifying_the_address_whatever_the_forms_checked(
    alice, bob, carol
):
    with_address(alice, "alice@example.com", verified=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        with_address(bob, "ALICE@EXAMPLE.COM", verified=True)
    # Unverified, the address may be on other accounts; accounts without one are not one address.
    with_address(bob, "ALICE@EXAMPLE.COM")
    with_address(carol, "")
    with_address(alice, "")
    assert User.objects.filter(email="").count() == 2


def test_twelve_sign_ups_with_one_address_send_it_three_emails_an_hour(client, settings):
    start = timezone.now()
    for number in range(12):
        actions.create_account(
            username=f"throwaway{number}",
            password=PASSWORD,
            display_name="Security team: visit http://evil.example",
            email="victim@example.com",
            now=start + timedelta(minutes=number),
        )
    assert User.objects.filter(email="victim@example.com").count() == 12  # every sign-up succeeded
    sent = queued("verify-email:")
    assert len(sent) == actions.ADDRESS_EMAILS_PER_HOUR == 3
    for email in sent:
        # Nothing the sign-up chose is in an email to an address nobody proved.
        for text in (email.text, email.html, email.subject):
            assert "evil" not in text and "Security team" not in text and "throwaway" not in text
        assert "Someone signed up at Parley" in email.text and "ignore this email" in email.text
    last = User.objects.get(username="throwaway11")
    assert actions.verification_state(user=last, now=start + timedelta(minutes=12)) == "not_sent"
    client.force_login(last)
    assert "We could not send a verification email to this address now" in (
        client.get(reverse("profile")).content.decode()
    )
    # Ten a day: three more each following hour, until ten in all.
    for hour in range(1, 5):
        for minute in range(3):
            actions.create_account(
                username=f"later{hour}x{minute}",
                password=PASSWORD,
                email="victim@example.com",
                now=start + timedelta(minutes=61 * hour + minute),
            )
    assert len(queued("verify-email:")) == actions.ADDRESS_EMAILS_PER_DAY == 10


# --- the address on the profile ----------------------------------------------------------------


def test_changing_the_address_needs_the_password_clears_verification_and_sends_a_new_link(client, alice):
    with_address(alice, "alice@example.com", verified=True)
    client.force_login(alice)
    wrong = client.post(reverse("profile_email"), {"email": "alice@new.example", "current_password": "nope"})
    assert wrong.status_code == 200 and "That is not your password." in wrong.content.decode()
    alice.refresh_from_db()
    assert alice.email == "alice@example.com" and alice.email_verified

    response = client.post(
        reverse("profile_email"), {"email": "alice@new.example", "current_password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("profile")
    alice.refresh_from_db()
    assert alice.email == "alice@new.example" and alice.email_verified_at is None
    [email] = verification_emails(alice)
    assert email.to == "alice@new.example"
    page = client.get(reverse("profile")).content.decode()
    assert "We sent a link to alice@new.example" in page and "Not verified" in page
    assert "Resend verification email" in page


def test_the_same_address_in_another_case_stays_verified_and_sends_nothing(alice):
    with_address(alice, "alice@example.com", verified=True)
    assert actions.change_email(user=alice, address="Alice@Example.com") is False
    alice.refresh_from_db()
    assert alice.email == "Alice@example.com" and alice.email_verified
    assert OutboundEmail.objects.count() == 0


def test_removing_the_address_clears_verification(alice):
    with_address(alice, "alice@example.com", verified=True)
    assert actions.change_email(user=alice, address="") is True
    alice.refresh_from_db()
    assert alice.email == "" and alice.email_verified_at is None
    [notice] = queued(f"email-changed:{alice.pk}:")
    assert notice.to == "alice@example.com" and "to none" in notice.text
    assert OutboundEmail.objects.count() == 1


def test_the_verified_address_that_is_replaced_is_told_and_an_unverified_one_is_not(alice, bob):
    with_address(alice, "alice@example.com", verified=True)
    actions.change_email(user=alice, address="alice@new.example")
    [notice] = queued(f"email-changed:{alice.pk}:")
    assert notice.to == "alice@example.com" and notice.subject == "Your Parley email address was changed"
    assert "from alice@example.com to alice@new.example" in notice.text
    assert "<strong>alice@new.example</strong>" in notice.html
    with_address(bob, "bob@example.com")
    actions.change_email(user=bob, address="bob@new.example")
    assert queued(f"email-changed:{bob.pk}:") == []


def test_the_profile_says_whether_the_address_is_verified(client, alice):
    client.force_login(alice)
    assert "No email address." in client.get(reverse("profile")).content.decode()
    with_address(alice, "alice@example.com")
    page = client.get(reverse("profile")).content.decode()
    assert "Not verified" in page and "Resend verification email" in page
    with_address(alice, "alice@example.com", verified=True)
    page = client.get(reverse("profile")).content.decode()
    assert ">Verified<" in page and "Resend verification email" not in page


# --- the verification link ---------------------------------------------------------------------


def test_the_link_verifies_the_address_once_and_says_so_after(client, alice):
    with_address(alice, "alice@example.com")
    actions.resend_verification_email(user=alice)
    link = link_in(verification_emails(alice)[0])
    # No session needed: the link may be opened on another device.
    first = client.get(path_of(link))
    assert first.status_code == 200 and "Your email is verified" in first.content.decode()
    alice.refresh_from_db()
    assert alice.email_verified and timezone.now() - alice.email_verified_at < timedelta(seconds=10)
    verified_at = alice.email_verified_at

    again = client.get(path_of(link))
    assert again.status_code == 200 and "Already verified" in again.content.decode()
    alice.refresh_from_db()
    assert alice.email_verified_at == verified_at


def test_an_expired_link_is_refused_with_a_page_that_says_so(client, alice):
    with_address(alice, "alice@example.com")
    issued = int(time.time()) - int(emails.VERIFICATION_MAX_AGE.total_seconds()) - 5
    token = emails.verification_token(user_id=alice.pk, address=alice.email, issued_at=issued)
    response = client.get(reverse("verify_email", args=[token]))
    assert response.status_code == 400
    assert "This link has expired" in response.content.decode()
    alice.refresh_from_db()
    assert alice.email_verified_at is None

    # The clock is the caller's: a minute before the end the same token verifies.
    end = emails.VERIFICATION_MAX_AGE.total_seconds()
    with pytest.raises(VerificationLinkExpired):
        emails.read_verification_token(token, now=timezone.now())
    almost = datetime.fromtimestamp(issued + end - 60, tz=UTC)
    assert actions.verify_email(token=token, now=almost).already is False


@pytest.mark.parametrize("damage", ["signature", "payload", "cut", "other salt"])
def test_a_tampered_link_is_refused(client, alice, damage):
    with_address(alice, "alice@example.com")
    token = emails.verification_token(user_id=alice.pk, address=alice.email, issued_at=int(time.time()))
    payload, _, signature = token.rpartition(":")
    if damage == "signature":
        token = f"{payload}:{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    elif damage == "payload":
        # Another user's id in an otherwise well-formed payload, signed by nobody.
        forged = emails.verification_token(
            user_id=alice.pk + 1, address=alice.email, issued_at=int(time.time())
        )
        token = f"{forged.rpartition(':')[0]}:{signature}"
    elif damage == "cut":
        token = token[: len(token) // 2]
    else:
        from django.core import signing

        token = signing.dumps({"u": alice.pk, "a": emails.address_digest(alice.email), "t": int(time.time())})
    response = client.get(reverse("verify_email", args=[token]))
    assert response.status_code == 400 and "This link is not valid" in response.content.decode()
    with pytest.raises(VerificationLinkInvalid):
        actions.verify_email(token=token)
    alice.refresh_from_db()
    assert alice.email_verified_at is None


def test_a_link_for_the_old_address_cannot_verify_the_new_one(client, alice):
    with_address(alice, "alice@old.example")
    actions.resend_verification_email(user=alice)
    old_link = link_in(verification_emails(alice)[0])
    actions.change_email(user=alice, address="alice@new.example", now=timezone.now() + timedelta(minutes=2))

    response = client.get(path_of(old_link))
    assert response.status_code == 400
    assert "This link is for another address" in response.content.decode()
    alice.refresh_from_db()
    assert alice.email == "alice@new.example" and alice.email_verified_at is None

    new_link = link_in(verification_emails(alice)[1])
    assert client.get(path_of(new_link)).status_code == 200
    alice.refresh_from_db()
    assert alice.email_verified


def test_a_link_is_bound_to_its_account(alice, bob):
    with_address(alice, "shared@example.com")
    token = emails.verification_token(
        user_id=bob.pk, address="shared@example.com", issued_at=int(time.time())
    )
    with pytest.raises(VerificationLinkStale):
        actions.verify_email(token=token)
    bob.refresh_from_db()
    alice.refresh_from_db()
    assert not bob.email_verified and not alice.email_verified


def test_resending_is_limited_to_one_a_minute_and_three_an_hour_to_one_address(client, alice):
    with_address(alice, "alice@example.com")
    start = timezone.now()
    actions.resend_verification_email(user=alice, now=start)
    with pytest.raises(VerificationRateLimited) as limited:
        actions.resend_verification_email(user=alice, now=start + timedelta(seconds=20))
    assert 39 <= limited.value.retry_after <= 41 and limited.value.code == "rate_limited"
    for minute in range(1, 3):
        actions.resend_verification_email(user=alice, now=start + timedelta(minutes=minute))
    assert len(verification_emails(alice)) == 3
    with pytest.raises(VerificationRateLimited) as limited:
        actions.resend_verification_email(user=alice, now=start + timedelta(minutes=10))
    assert limited.value.retry_after == pytest.approx(50 * 60, abs=2)
    actions.resend_verification_email(user=alice, now=start + timedelta(minutes=61))
    assert len(verification_emails(alice)) == 4

    # The page says so and sends nothing more.
    client.force_login(alice)
    response = client.post(reverse("resend_verification"), follow=True)
    assert "A verification email was sent a moment ago" in response.content.decode()
    assert len(verification_emails(alice)) == 4


def test_one_account_is_sent_at_most_five_verification_emails_an_hour_whatever_the_addresses(alice):
    start = timezone.now()
    for minute in range(5):
        actions.change_email(
            user=alice, address=f"alice{minute}@example.com", now=start + timedelta(minutes=minute)
        )
    assert len(verification_emails(alice)) == 5
    with pytest.raises(VerificationRateLimited) as limited:
        actions.change_email(user=alice, address="alice5@example.com", now=start + timedelta(minutes=10))
    assert limited.value.retry_after == pytest.approx(50 * 60, abs=2)
    alice.refresh_from_db()
    assert alice.email == "alice4@example.com"  # nothing changed


def test_a_verified_address_is_not_sent_another_link(alice):
    with_address(alice, "alice@example.com", verified=True)
    with pytest.raises(AlreadyVerified):
        actions.resend_verification_email(user=alice)
    assert OutboundEmail.objects.count() == 0


# --- idempotency of what is queued ---------------------------------------------------------------


def test_one_verification_email_per_address_and_moment_however_often_it_is_queued(alice):
    with_address(alice, "alice@example.com")
    now = timezone.now()
    first = emails.queue_verification_email(alice, now=now)
    second = emails.queue_verification_email(alice, now=now)
    assert first.pk == second.pk and len(verification_emails(alice)) == 1
    assert (
        first.key
        == f"verify-email:{alice.pk}:{emails.address_digest('alice@example.com')}:{int(now.timestamp())}"
    )
    emails.queue_verification_email(alice, now=now + timedelta(seconds=1))
    assert len(verification_emails(alice)) == 2


def test_one_reset_email_per_token_however_often_it_is_queued_and_its_key_holds_no_token(alice):
    with_address(alice, "alice@example.com", verified=True)
    form = VerifiedPasswordResetForm({"email": "alice@example.com"})
    assert form.is_valid()
    context = {"user": alice, "uid": "MQ", "token": "abc-123"}
    for _ in range(2):
        form.send_mail(
            "accounts/email/password_reset_subject.txt",
            "accounts/email/password_reset.txt",
            context,
            None,
            "alice@example.com",
            html_email_template_name="accounts/email/password_reset.html",
        )
    [email] = reset_emails(alice)
    digest = hashlib.sha256(b"abc-123").hexdigest()[:16]
    assert email.key == f"password-reset:{alice.pk}:{digest}" and "abc-123" not in email.key


def test_a_reset_email_is_sensitive_blanked_once_sent_and_never_shown_in_the_admin(
    client, admin_client, alice
):
    with_address(alice, "alice@example.com", verified=True)
    client.post(reverse("password_reset"), {"email": "alice@example.com"})
    [email] = reset_emails(alice)
    link = link_in(email, RESET_LINK)
    token = path_of(link).rstrip("/").rpartition("/")[2]
    assert token not in email.key and email.sensitive
    timeout = timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    assert abs(email.expires_at - email.created_at - timeout) < timedelta(seconds=2)
    admin_page = reverse("admin:jobs_outboundemail_change", args=[email.pk])
    for moment in ("queued", "sent"):
        page = admin_client.get(admin_page)
        assert page.status_code == 200, moment
        assert token not in page.content.decode() and path_of(link) not in page.content.decode(), moment
        if moment == "queued":
            assert send_queued_email(email.pk) == "sent"
    [message] = mail.outbox
    assert link in message.body  # it did go out, with the link
    email.refresh_from_db()
    assert email.sent_at is not None and token not in email.text + email.html and email.text == REDACTED


def test_a_verification_email_is_blanked_once_sent(alice):
    with_address(alice, "alice@example.com")
    actions.resend_verification_email(user=alice)
    [email] = verification_emails(alice)
    link = link_in(email)
    assert send_queued_email(email.pk) == "sent"
    email.refresh_from_db()
    assert link not in email.text + email.html and email.text == REDACTED


# --- forgot password -----------------------------------------------------------------------------


def test_the_log_in_page_offers_forgot_password(client):
    page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}"' in page and "Forgot password?" in page
    assert reverse("password_reset") == "/accounts/password/reset/"


def test_a_reset_goes_only_to_a_verified_address(client, alice, bob):
    with_address(alice, "alice@example.com", verified=True)
    with_address(bob, "bob@example.com")
    client.post(reverse("password_reset"), {"email": "bob@example.com"})
    assert reset_emails(bob) == []
    client.post(reverse("password_reset"), {"email": "ALICE@example.com"})
    [email] = reset_emails(alice)
    assert email.to == "alice@example.com" and email.subject == "Reset your Parley password"
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    assert "alice" in email.text and f"{hours} hours" in email.text


def test_the_reset_form_answers_the_same_whether_or_not_the_address_exists(client, alice, bob):
    with_address(alice, "alice@example.com", verified=True)
    with_address(bob, "bob@example.com")
    answers = {}
    for case, address in {
        "verified": "alice@example.com",
        "unverified": "bob@example.com",
        "nobody": "zed@example.com",
    }.items():
        response = client.post(reverse("password_reset"), {"email": address}, follow=True)
        answers[case] = (response.redirect_chain, response.status_code, response.content.decode())
    assert answers["verified"] == answers["unverified"] == answers["nobody"]
    chain, status, page = answers["nobody"]
    assert chain == [(reverse("password_reset_done"), 302)] and status == 200
    assert "If an account has this address, and the address is verified" in page
    assert OutboundEmail.objects.count() == 1


def test_the_reset_link_sets_a_new_password_and_ends_the_old_one(client, alice):
    with_address(alice, "alice@example.com", verified=True)
    client.post(reverse("password_reset"), {"email": "alice@example.com"})
    link = link_in(reset_emails(alice)[0], RESET_LINK)
    form_page = client.get(path_of(link), follow=True)
    assert "Choose a new password" in form_page.content.decode()
    set_password_path = form_page.redirect_chain[-1][0]
    done = client.post(set_password_path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    assert "Your new password is set" in client.get(done["Location"]).content.decode()
    assert client.login(username="alice", password=NEW_PASSWORD)
    assert not client.login(username="alice", password=PASSWORD)
    # The link works once.
    client.logout()
    assert "This reset link does not work" in client.get(path_of(link), follow=True).content.decode()


def test_reset_emails_to_one_account_are_limited_and_the_answer_stays_the_same(client, alice):
    with_address(alice, "alice@example.com", verified=True)
    answers = set()
    for _ in range(VerifiedPasswordResetForm.EMAILS_PER_HOUR + 2):
        response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
        answers.add((response.status_code, response["Location"]))
        time.sleep(1.05)  # Django's reset tokens change by the second
    assert answers == {(302, reverse("password_reset_done"))}
    assert len(reset_emails(alice)) == VerifiedPasswordResetForm.EMAILS_PER_HOUR


def test_reset_pages_look_like_the_rest(client):
    for name in ("password_reset", "password_reset_done", "password_reset_complete"):
        page = client.get(reverse(name)).content.decode()
        assert 'class="card narrow' in page and 'href="/static/css/parley.css"' in page, name
    invalid = client.get(reverse("password_reset_confirm", args=["MQ", "not-a-token"])).content.decode()
    assert "This reset link does not work" in invalid and 'class="card narrow' in invalid


# --- the missed-message email setting ------------------------------------------------------------


@pytest.mark.parametrize(
    ("posted", "stored"), [("0", 0), ("5", 5), ("10", 10), ("30", 30), ("60", 60), ("never", None)]
)
def test_the_missed_email_setting_is_saved(client, alice, posted, stored):
    client.force_login(alice)
    response = client.post(reverse("profile"), {"display_name": "Alice", "missed_email_minutes": posted})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.missed_email_minutes == stored
    page = client.get(reverse("profile")).content.decode()
    assert re.search(rf'<option value="{posted}" selected>', page)


def test_the_missed_email_setting_offers_the_choices_and_says_when_it_applies(client, alice):
    client.force_login(alice)
    page = client.get(reverse("profile")).content.decode()
    labels = re.findall(
        r'<option value="[^"]*"(?: selected)?>([^<]+)</option>',
        page.split('name="missed_email_minutes"')[1].split("</select>")[0],
    )
    assert labels == [
        "At once",
        "After 5 minutes",
        "After 10 minutes",
        "After 30 minutes",
        "After 1 hour",
        "Never",
    ]
    assert '<option value="10" selected>' in page  # the default
    assert "only to a verified address" in page and "while a Parley tab is focused" in page
    # Parley has no direct messages: nothing on the account pages or in their emails promises them.
    assert "replies in threads you follow" in page
    with_address(alice, "alice@example.com")
    actions.resend_verification_email(user=alice)
    [email] = verification_emails(alice)
    signup_page = Client().get(reverse("signup")).content.decode()
    assert "Email (optional)" in signup_page
    for text in (page, signup_page, email.text, email.html):
        assert "direct message" not in text


def test_a_form_without_the_setting_keeps_it_and_a_bad_value_is_refused(client, alice):
    alice.missed_email_minutes = 30
    alice.save(update_fields=["missed_email_minutes"])
    client.force_login(alice)
    client.post(reverse("profile"), {"display_name": "Alice A."})
    alice.refresh_from_db()
    assert alice.display_name == "Alice A." and alice.missed_email_minutes == 30
    response = client.post(reverse("profile"), {"display_name": "Alice", "missed_email_minutes": "7"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    alice.refresh_from_db()
    assert alice.missed_email_minutes == 30


# --- end to end: a real worker, a real SMTP server -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_verification_email_arrives_by_smtp_and_its_link_verifies(client, worker, mailbox):
    assert sign_up(client, "hana", "hana@example.com").status_code == 302
    [message] = mailbox.wait_for(1)
    assert message["To"] == "hana@example.com"
    assert message["Subject"] == "Verify your email address for Parley"
    [link] = set(VERIFY_LINK.findall(text_of(message)))
    assert link in html_of(message)
    hana = User.objects.get(username="hana")
    assert not hana.email_verified
    assert client.get(path_of(link)).status_code == 200
    hana.refresh_from_db()
    assert hana.email_verified
    [email] = verification_emails(hana)
    assert email.sent_at is not None and email.attempts == 1
    time.sleep(1.5)  # three sweeps: nothing is sent again
    assert len(mailbox.messages()) == 1


@pytest.mark.django_db(transaction=True)
def test_the_reset_email_arrives_by_smtp_and_its_link_sets_the_password(client, worker, mailbox):
    ivy = User.objects.create_user(username="ivy", password=PASSWORD, email="ivy@example.com")
    ivy.email_verified_at = timezone.now()
    ivy.save(update_fields=["email_verified_at"])
    client.post(reverse("password_reset"), {"email": "ivy@example.com"})
    [message] = mailbox.wait_for(1)
    assert message["To"] == "ivy@example.com" and message["Subject"] == "Reset your Parley password"
    [link] = set(RESET_LINK.findall(text_of(message)))
    form_page = client.get(path_of(link), follow=True)
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done["Location"] == reverse("password_reset_complete")
    assert client.login(username="ivy", password=NEW_PASSWORD)


@pytest.mark.parametrize(
    ("name", "described"),
    [("signup", 4), ("profile", 1), ("password_reset", 0), ("login", 0)],
)
def test_the_account_pages_label_every_field_and_describe_the_help(client, alice, name, described):
    if name == "profile":
        with_address(alice, "alice@example.com")
        client.force_login(alice)
    page = IdsAndReferences()
    page.feed(client.get(reverse(name)).content.decode())
    assert len(page.ids) == len(set(page.ids))
    assert [ref for ref in page.references if ref not in page.ids] == []
    assert sum(ref.endswith("_helptext") for ref in page.references) == described


def test_an_address_an_admin_changes_is_unverified_unless_the_admin_says_otherwise(rf, alice, admin_user):
    from types import SimpleNamespace

    from django.contrib.admin.sites import site

    model_admin = site._registry[User]
    request = rf.post("/admin/")
    request.user = admin_user
    with_address(alice, "alice@example.com", verified=True)
    alice.email = "alice@new.example"
    model_admin.save_model(request, alice, SimpleNamespace(changed_data=["email"]), change=True)
    alice.refresh_from_db()
    assert alice.email == "alice@new.example" and alice.email_verified_at is None

    alice.email, alice.email_verified_at = "alice@third.example", timezone.now()
    model_admin.save_model(
        request, alice, SimpleNamespace(changed_data=["email", "email_verified_at"]), change=True
    )
    alice.refresh_from_db()
    assert alice.email == "alice@third.example" and alice.email_verified


def test_a_password_reset_closes_the_accounts_open_sockets(
    client, alice, monkeypatch, django_capture_on_commit_callbacks
):
    rechecked = []
    monkeypatch.setattr(actions, "recheck_user_sockets", lambda *, user_id: rechecked.append(user_id))
    with_address(alice, "alice@example.com", verified=True)
    client.post(reverse("password_reset"), {"email": "alice@example.com"})
    link = link_in(reset_emails(alice)[0], RESET_LINK)
    set_password_path = client.get(path_of(link), follow=True).redirect_chain[-1][0]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(set_password_path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert rechecked == [alice.pk]


def test_the_admin_form_refuses_verifying_an_address_another_account_verified(alice, bob):
    from django.core.exceptions import ValidationError

    with_address(alice, "alice@example.com", verified=True)
    bob.email, bob.email_verified_at = "ALICE@example.com", timezone.now()
    # What the admin's change form runs before saving: a readable error, not a 500.
    with pytest.raises(ValidationError, match="Another account has this email address verified"):
        bob.validate_constraints()
    bob.email_verified_at = None
    bob.validate_constraints()
