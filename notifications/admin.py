from django.contrib import admin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "recipient", "kind", "actor", "room", "created_at", "read_at")
    list_filter = ("kind", "read_at")
    search_fields = ("recipient__username", "actor__username")
    raw_id_fields = ("recipient", "actor", "room", "message")
    list_select_related = ("recipient", "actor", "room")
