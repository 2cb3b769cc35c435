from django.contrib import admin

from . import events
from .models import ChatMessage, ChatRoom, Membership


def announce(memberships, *, is_member: bool) -> None:
    """Open sockets join or leave the room as the admin adds or removes its members."""
    for membership in memberships:
        events.membership_changed_on_commit(
            user_id=membership.user_id, room=membership.room, is_member=is_member
        )


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
    # Chosen by name, not by raw id; a new room is the admin's own unless they pick someone else.
    autocomplete_fields = ("created_by",)
    inlines = [MembershipInline]

    def get_changeform_initial_data(self, request):
        return {"created_by": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is Membership:
            announce(formset.new_objects, is_member=True)
            announce(formset.deleted_objects, is_member=False)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "room", "role", "joined_at")
    list_filter = ("role",)
    search_fields = ("user__username", "room__name")
    raw_id_fields = ("user", "room")
    list_select_related = ("user", "room")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            announce([obj], is_member=True)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        announce([obj], is_member=False)

    def delete_queryset(self, request, queryset):
        memberships = list(queryset.select_related("room"))
        super().delete_queryset(request, queryset)
        announce(memberships, is_member=False)


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
