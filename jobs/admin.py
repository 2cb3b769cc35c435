from django.contrib import admin, messages

from .email import send_again
from .models import FailedTask, OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    """What was sent, what waits and what failed. The body of an email that holds a one-time link
    (a password reset, a verification) is shown to nobody: whoever may view this page must not be
    able to take over an account with it."""

    list_display = ("subject", "to", "state", "attempts", "created_at", "sent_at", "available_at")
    list_filter = (("sent_at", admin.EmptyFieldListFilter), ("failed_at", admin.EmptyFieldListFilter))
    search_fields = ("to", "subject")
    actions = ["send_again_action"]
    shown = [
        *("to", "subject", "key", "created_at", "available_at", "attempts", "last_error"),
        *("sent_at", "failed_at", "expires_at", "sensitive"),
    ]

    def get_fields(self, request, obj=None):
        return self.shown if obj is None or obj.sensitive else [*self.shown, "headers", "text", "html"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.action(description="Send again (a new round of attempts)")
    def send_again_action(self, request, queryset):
        count = send_again(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} email(s) will be sent again.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FailedTask)
class FailedTaskAdmin(admin.ModelAdmin):
    list_display = ("task_name", "error", "failed_at")
    search_fields = ("task_name", "error")
    readonly_fields = [field.name for field in FailedTask._meta.fields]

    def has_add_permission(self, request):
        return False
