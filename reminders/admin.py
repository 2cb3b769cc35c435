from django.contrib import admin

from .models import Reminder


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "message", "remind_at", "state", "done_at"]
    list_filter = ["state"]
    search_fields = ["user__username"]
    raw_id_fields = ["user", "message"]
    date_hierarchy = "remind_at"
