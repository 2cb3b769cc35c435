"""Sign-up, profile and email address pages; log-in, log-out and the password reset are Django's
own views (the reset's form mails verified addresses only, through the outbox)."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from messaging.errors import ParleyError

from . import actions
from .forms import EmailForm, ProfileForm, SignUpForm, VerifiedPasswordResetForm


class LogoutView(auth_views.LogoutView):
    """Django's log-out (POST only), which also closes this session's open chat sockets."""

    def post(self, request, *args, **kwargs):
        user_id, session_key = request.user.pk, request.session.session_key
        response = super().post(request, *args, **kwargs)
        if user_id is not None and session_key:
            actions.end_session_sockets(user_id=user_id, session_key=session_key)
        return response


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = actions.create_account(
            username=data["username"],
            password=data["password1"],
            display_name=data.get("display_name", ""),
            email=data.get("email", ""),
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if actions.verification_state(user=user) == "sent":
            messages.success(
                request, f"Welcome! We sent a link to {user.email}: open it to verify the address."
            )
        elif user.email:
            messages.warning(request, "Welcome! Your email address is not verified yet: see your profile.")
        return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


def _profile_page(request, *, form=None, email_form=None, status=200):
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form or ProfileForm(instance=request.user),
            "email_form": email_form or EmailForm(user=request.user),
            "email_state": actions.verification_state(user=request.user),
        },
        status=status,
    )


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your profile is saved.")
        return redirect("profile")
    return _profile_page(request, form=form)


@login_required
@require_POST
def profile_email(request):
    form = EmailForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            changed = actions.change_email(user=request.user, address=form.cleaned_data["email"])
        except ParleyError as error:
            form.add_error("email", error.detail)
        else:
            if not changed:
                messages.success(request, "Your email address is unchanged.")
            elif actions.verification_state(user=request.user) == "sent":
                messages.success(
                    request, f"We sent a link to {request.user.email}: open it to verify the address."
                )
            elif request.user.email:
                messages.warning(request, "Your email address is saved, not verified yet: see below.")
            else:
                messages.success(request, "Your email address is removed.")
            return redirect("profile")
    return _profile_page(request, email_form=form)


@login_required
@require_POST
def resend_verification(request):
    try:
        actions.resend_verification_email(user=request.user)
    except ParleyError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"We sent a new link to {request.user.email}.")
    return redirect("profile")


def verify_email(request, token):
    """The link in the verification email; it needs no session (it may be opened on a phone)."""
    try:
        result = actions.verify_email(token=token)
    except ParleyError as error:
        return render(request, "accounts/verify_email.html", {"error": error}, status=400)
    return render(
        request,
        "accounts/verify_email.html",
        {"verified_address": result.user.email, "already": result.already},
    )


class PasswordResetView(auth_views.PasswordResetView):
    form_class = VerifiedPasswordResetForm
    subject_template_name = "accounts/email/password_reset_subject.txt"
    email_template_name = "accounts/email/password_reset.txt"
    html_email_template_name = "accounts/email/password_reset.html"
    success_url = reverse_lazy("password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        # Django ends the account's other sessions (their auth hash no longer matches); their
        # open chat sockets close at once rather than at the next audit.
        user_id = form.user.pk
        transaction.on_commit(lambda: actions.recheck_user_sockets(user_id=user_id))
        return response
