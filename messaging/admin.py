from django.contrib import admin

from .models import ChatMessage, ChatRoom, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    raw_id_fields = ("user",)


@admin.register(ChatRoom)
class ChatRoomAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_private", "created_by", "created_at", "archived_at", "last_seq")
    list_filter = ("is_private", "archived_at")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("last_seq", "created_at")
    raw_id_fields = ("created_by",)
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "room", "role", "joined_at")
    list_filter = ("role",)
    search_fields = ("user__username", "room__name")
    raw_id_fields = ("user", "room")
    list_select_related = ("user", "room")


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "room", "seq", "author", "short_body", "created_at")
    list_filter = ("room",)
    search_fields = ("body", "author__username")
    raw_id_fields = ("room", "author", "mentioned_users")
    # seq and client_id are the protocol's ordering and idempotency keys: not editable here.
    readonly_fields = ("room", "seq", "author", "client_id", "created_at")
    list_select_related = ("room", "author")

    @admin.display(description="Body")
    def short_body(self, message):
        return message.body[:80]

    def has_add_permission(self, request):
        # A message added here would skip seq assignment and delivery; post it in the room.
        return False
