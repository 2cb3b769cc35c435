from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from . import actions
from .models import User


@admin.register(User)
class ParleyUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Parley", {"fields": ("display_name",)}))
    list_display = ("username", "display_name", "email", "is_staff", "is_active")
    search_fields = ("username", "display_name", "email")

    def save_model(self, request, obj, form, change):
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
