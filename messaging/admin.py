from django.contrib import admin

from .actions.memberships import add_membership, end_membership
from .models import ChatMessage, ChatRoom, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    fields = ("user", "role")
    raw_id_fields = ("user",)


@admin.register(ChatRoom)
class ChatRoomAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_private", "created_by", "created_at", "archived_at", "last_seq")
    list_filter = ("is_private", "archived_at")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("last_seq", "last_change", "created_at")
    # Chosen by name, not by raw id; a new room is the admin's own unless they pick someone else.
    autocomplete_fields = ("created_by",)
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and obj.created_by is not None:
            # As a room made on its page: its creator owns it (and their open sockets join it).
            add_membership(user=obj.created_by, room=obj, role=Membership.Role.OWNER)

    def get_changeform_initial_data(self, request):
        return {"created_by": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        # Through the same actions as the pages, so open sockets hear of every change.
        formset.save(commit=False)
        for membership in formset.new_objects:
            add_membership(user=membership.user, room=membership.room, role=membership.role)
        for membership, changed in formset.changed_objects:
            if "user" in changed:
                # Another person in this row: the old one leaves, the new one joins.
                end_membership(membership=Membership.objects.select_related("room").get(pk=membership.pk))
                add_membership(user=membership.user, room=membership.room, role=membership.role)
            else:
                membership.save(update_fields=["role"])
        for membership in formset.deleted_objects:
            end_membership(membership=membership)
        return None

    def delete_model(self, request, obj):
        members = list(obj.memberships.all())
        super().delete_model(request, obj)
        for membership in members:
            end_membership(membership=membership)

    def delete_queryset(self, request, queryset):
        for room in queryset:
            self.delete_model(request, room)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "room", "role", "joined_at")
    list_filter = ("role",)
    search_fields = ("user__username", "room__name")
    raw_id_fields = ("user", "room")
    list_select_related = ("user", "room")

    def get_readonly_fields(self, request, obj=None):
        # Moving a membership to another user or room is a removal and an addition: do those.
        return ("user", "room", "joined_at", "last_read_seq") if obj else ("last_read_seq",)

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["role"])
        else:
            obj.pk = add_membership(user=obj.user, room=obj.room, role=obj.role).pk

    def delete_model(self, request, obj):
        end_membership(membership=obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("room"):
            end_membership(membership=membership)


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "room", "seq", "author", "short_body", "created_at")
    list_filter = ("room",)
    search_fields = ("body", "author__username")
    raw_id_fields = ("room", "author", "mentioned_users")
    # Read-only until edits and deletes are ordered changes of the room (tombstones): an edit
    # here would reach nobody, and a deletion would leave a hole in the room's seq.
    readonly_fields = ("room", "seq", "author", "body", "client_id", "created_at", "mentioned_users")
    list_select_related = ("room", "author")

    @admin.display(description="Body")
    def short_body(self, message):
        return message.body[:80]

    def has_add_permission(self, request):
        # A message added here would skip seq assignment and delivery; post it in the room.
        return False

    def has_delete_permission(self, request, obj=None):
        return False
