from django.contrib import admin, messages

from .email import send_again
from .models import FailedTask, OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("subject", "to", "state", "attempts", "created_at", "sent_at", "available_at")
    list_filter = (("sent_at", admin.EmptyFieldListFilter), ("failed_at", admin.EmptyFieldListFilter))
    search_fields = ("to", "subject", "key")
    readonly_fields = [field.name for field in OutboundEmail._meta.fields]
    actions = ["send_again_action"]

    @admin.action(description="Send again (a new round of attempts)")
    def send_again_action(self, request, queryset):
        count = send_again(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} email(s) will be sent again.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False


@admin.register(FailedTask)
class FailedTaskAdmin(admin.ModelAdmin):
    list_display = ("task_name", "error", "failed_at")
    search_fields = ("task_name", "error")
    readonly_fields = [field.name for field in FailedTask._meta.fields]

    def has_add_permission(self, request):
        return False
