from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from . import actions
from .models import User


@admin.register(User)
class ParleyUserAdmin(UserAdmin):
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Parley", {"fields": ("display_name", "email_verified_at", "missed_email_minutes")}),
    )
    list_display = ("username", "display_name", "email", "email_verified", "is_staff", "is_active")
    list_filter = (*UserAdmin.list_filter, ("email_verified_at", admin.EmptyFieldListFilter))
    search_fields = ("username", "display_name", "email")

    @admin.display(boolean=True, description="Email verified")
    def email_verified(self, obj) -> bool:
        return obj.email_verified

    def save_model(self, request, obj, form, change):
        if change and "email" in form.changed_data and "email_verified_at" not in form.changed_data:
            # A new address counts once its owner opened a link sent to it (or an admin says so
            # by setting the time); the old one's verification does not carry over.
            obj.email_verified_at = None
        super().save_model(request, obj, form, change)
        if change and {"is_active", "password"} & set(form.changed_data):
            # A deactivated account's open sockets close at once, not at the next audit.
            transaction.on_commit(lambda: actions.recheck_user_sockets(user_id=obj.pk))

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            # The other sessions' sockets close; the admin's own session was kept valid.
            actions.recheck_user_sockets(user_id=int(id))
        return response
