from django.contrib import admin

from .models import ScheduledMessage


@admin.register(ScheduledMessage)
class ScheduledMessageAdmin(admin.ModelAdmin):
    """For a site admin to see what waits and why something was not sent."""

    list_display = ["id", "author", "room", "send_at", "state", "failure_code", "finished_at"]
    list_filter = ["state", "failure_code"]
    search_fields = ["author__username", "room__name", "body"]
    raw_id_fields = ["author", "room", "sent_message"]
    date_hierarchy = "send_at"
    readonly_fields = ["failure_code", "failure_detail", "created_at", "updated_at", "finished_at"]
