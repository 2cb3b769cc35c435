"""The account forms: sign-up, profile (name, missed-message emails), email address, and the
password reset request that only ever mails a verified address."""

from datetime import timedelta

from django import forms
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm
from django.db import transaction
from django.utils import timezone

from . import actions, emails
from .models import User

EMAIL_HELP = (
    "Optional. Once you open the link we email to it, it lets you reset a forgotten password "
    "and get emails about mentions and replies in threads you follow that you missed. Others never see it."
)

# (value, label): "never" is None, the other values are minutes.
MISSED_EMAIL_CHOICES = [
    ("0", "At once"),
    ("5", "After 5 minutes"),
    ("10", "After 10 minutes"),
    ("30", "After 30 minutes"),
    ("60", "After 1 hour"),
    ("never", "Never"),
]


# Group mentions' names (notifications.audience.GROUP_NAMES), reserved at sign-up.
RESERVED_USERNAMES = ("room", "here")


def _minutes(value: str) -> int | None:
    return None if value == "never" else int(value)


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        label="Email (optional)",
        required=False,
        max_length=254,
        help_text=EMAIL_HELP,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "display_name", "email")

    def clean_username(self):
        username = super().clean_username()
        # @room and @here notify a room (notifications/audience.py): never a person's name.
        if username and username.casefold() in RESERVED_USERNAMES:
            raise forms.ValidationError(
                "This username is reserved: @%(name)s notifies a whole room.",
                params={"name": username.casefold()},
            )
        return username

    def clean_email(self):
        # Any address is accepted, whoever else has it: only a verified one is an account's, and
        # saying "taken" here would tell anyone which addresses have accounts.
        return actions.normalize_address(self.cleaned_data.get("email", ""))


class ProfileForm(forms.ModelForm):
    missed_email_minutes = forms.TypedChoiceField(
        label="Email me about missed mentions and replies in threads you follow",
        choices=MISSED_EMAIL_CHOICES,
        coerce=_minutes,
        # Not required: a form posted without the field leaves the setting as it was
        # (a model field with a default is kept when its value is missing from the data).
        required=False,
        empty_value=None,
        help_text=(
            "Mentions and replies in threads you follow that are still unread "
            "then, in one email. Emails go only to a verified address, and skip what you read in "
            "the meantime or while a Parley tab is focused."
        ),
    )

    class Meta:
        model = User
        fields = ("display_name", "missed_email_minutes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        minutes = self.instance.missed_email_minutes
        self.initial["missed_email_minutes"] = "never" if minutes is None else str(minutes)


class EmailForm(forms.Form):
    """A new address (or none), confirmed with the password: whoever holds a logged-in tab
    must not be able to move the account to an address of theirs and reset the password."""

    email = forms.EmailField(
        label="Email address",
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    current_password = forms.CharField(
        label="Your password (to confirm the change)",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)
        self.initial.setdefault("email", user.email)

    def clean_email(self):
        return actions.normalize_address(self.cleaned_data.get("email", ""))

    def clean_current_password(self):
        password = self.cleaned_data.get("current_password", "")
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.", code="password_incorrect")
        return password


class VerifiedPasswordResetForm(PasswordResetForm):
    """Django's reset request, mailing verified addresses only, through the outbox.

    An address nobody proved to own must not be able to take over the account: whoever typed
    it at sign-up (a typo, or someone else's address on purpose) would get the link. The page
    answers the same whether or not an account, a verified one, has the address.
    """

    # Reset emails one account gets at most per hour (further requests are answered the same,
    # and send nothing): a stranger who knows the address must not flood its mailbox.
    EMAILS_PER_HOUR = 3

    def get_users(self, email):
        return (
            user
            for user in super().get_users(email)
            if user.email_verified_at is not None
            and emails.password_reset_times(user_id=user.pk, since=timezone.now() - timedelta(hours=1))
            < self.EMAILS_PER_HOUR
        )

    def save(self, *args, **kwargs):
        with transaction.atomic():
            super().save(*args, **kwargs)

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        emails.queue_password_reset_email(
            user=context["user"],
            to=to_email,
            uid=context["uid"],
            token=context["token"],
            subject_template=subject_template_name,
            text_template=email_template_name,
            html_template=html_email_template_name or "accounts/email/password_reset.html",
        )
