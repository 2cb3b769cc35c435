"""The Django admin: rooms, memberships and messages, changed through the same actions as the
pages, so open sockets hear of every change made here."""

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from .actions.changes import publish, store_delete
from .actions.memberships import add_membership, announce_membership, end_membership
from .errors import ParleyError
from .models import ChatMessage, ChatRoom, Membership, MessageRevision, Reaction


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    fields = ("user", "role")
    raw_id_fields = ("user",)

    # A direct conversation's people never change (actions.memberships.refuse_direct): shown only.
    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and not (obj is not None and obj.is_direct)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_direct)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_direct)


@admin.register(ChatRoom)
class ChatRoomAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "kind",
        "is_private",
        "created_by",
        "created_at",
        "archived_at",
        "last_seq",
    )
    list_filter = ("kind", "is_private", "archived_at")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("last_seq", "last_change", "created_at")
    # Chosen by name, not by raw id; a new room is the admin's own unless they pick someone else.
    autocomplete_fields = ("created_by",)
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # Direct conversations are started by their people (actions/direct.py), never here; one
        # stays private and open, its rules the site's.
        if obj is not None and obj.is_direct:
            return tuple(field.name for field in obj._meta.fields if field.name != "id")
        return (*self.readonly_fields, "kind")

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None and obj.is_direct else super().get_prepopulated_fields(request, obj)

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
        # The room is gone with its memberships: its members' open sockets leave it.
        for membership in members:
            announce_membership(user_id=membership.user_id, room=obj, is_member=False)

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
        # How the member is notified is the member's own choice (notifications/preferences.py).
        own = ("last_read_seq", "notify_level", "muted_until")
        if obj is not None and obj.room.is_direct:
            return ("user", "room", "role", "joined_at", *own)
        return ("user", "room", "joined_at", *own) if obj else own

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.room.is_direct)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class DirectRefusingForm(form):
            def clean(self):
                cleaned = super().clean()
                room = cleaned.get("room")
                if room is not None and room.is_direct:
                    raise ValidationError("A direct conversation's people never change; start a new one.")
                return cleaned

        return DirectRefusingForm if obj is None else form

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["role"])
        else:
            obj.pk = add_membership(user=obj.user, room=obj.room, role=obj.role).pk

    def delete_model(self, request, obj):
        end_membership(membership=obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("room"):
            try:
                end_membership(membership=membership)
            except ParleyError as error:
                self.message_user(request, f"{membership}: {error.detail}", messages.ERROR)


class ReadOnlyInline(admin.TabularInline):
    """What a message carries, shown to whoever may see the message; never changed here."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("messaging.view_chatmessage")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RevisionInline(ReadOnlyInline):
    model = MessageRevision
    fields = ("body", "written_at", "replaced_at")
    readonly_fields = fields
    verbose_name = "earlier version"
    verbose_name_plural = "earlier versions (oldest first)"


class ReactionInline(ReadOnlyInline):
    model = Reaction
    fields = ("emoji", "user", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    """Messages are read here, and deleted for everyone: the message becomes a tombstone in its
    place (its seq stays, so the room's order keeps no hole) through the same action as a room
    owner's delete, so every member sees it at once. Nothing here hard-deletes a message or
    rewrites one (an edit is its author's)."""

    list_display = ("id", "room", "seq", "author", "short_body", "state", "created_at")
    list_filter = ("room",)
    search_fields = ("body", "author__username")
    fields = (
        "room",
        "seq",
        "change",
        "author",
        "body",
        "client_id",
        "created_at",
        "edited_at",
        "deleted_at",
        "deleted_by",
        "pinned_at",
        "pinned_by",
        "mentioned_users",
        "thread_root",
        "in_room",
        "reply_count",
        "last_reply_at",
    )
    readonly_fields = fields
    list_select_related = ("room", "author")
    inlines = [RevisionInline, ReactionInline]
    actions = ["delete_for_everyone"]
    delete_confirmation_template = "admin/messaging/chatmessage/delete_for_everyone.html"
    delete_selected_confirmation_template = "admin/messaging/chatmessage/delete_for_everyone_selected.html"

    @admin.display(description="Body")
    def short_body(self, message):
        return message.body[:80]

    @admin.display(description="State")
    def state(self, message):
        if message.is_deleted:
            return "deleted"
        return ", ".join(
            word for word, on in (("edited", message.edited_at), ("pinned", message.pinned_at)) if on
        )

    def has_add_permission(self, request):
        # A message added here would skip seq assignment and delivery; post it in the room.
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # A tombstone is already deleted for everyone.
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_deleted)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a hard delete would leave a hole in the room's seq
        return actions

    @admin.action(permissions=["delete"], description="Delete for everyone (tombstone)")
    def delete_for_everyone(self, request, queryset):
        # Django's own flow (a confirmation page, then delete_queryset), with our confirmation.
        return delete_selected(self, request, queryset)

    def get_deleted_objects(self, objs, request):
        # Nothing but the messages themselves is deleted by the admin: the action erases the
        # body, versions, reactions and notifications as part of the tombstone, whoever asks.
        shown = [f"{message} ({message.room})" for message in objs]
        return shown, {ChatMessage._meta.verbose_name_plural: len(shown)}, set(), []

    def log_deletions(self, request, queryset):
        return []  # the message is not deleted: each tombstone is logged as a change once made

    def delete_model(self, request, obj):
        self._delete_for_everyone(request, [obj])

    def delete_queryset(self, request, queryset):
        self._delete_for_everyone(request, queryset.select_related("room"))

    def _delete_for_everyone(self, request, messages_to_delete) -> None:
        for message in messages_to_delete:
            try:
                changed = store_delete(
                    user=request.user, room_id=message.room_id, seq=message.seq, as_site_admin=True
                )
            except ParleyError as error:
                self.message_user(
                    request,
                    f"Message {message.seq} in {message.room} was not deleted: {error.detail}",
                    messages.ERROR,
                )
                continue
            if changed.changed:
                self.log_change(request, message, "Deleted for everyone (tombstone).")
            # delete_message without the publishing, which waits for the admin's own transaction
            # (the delete page runs in one): members must never hear of a change not committed.
            transaction.on_commit(lambda changed=changed: publish(changed), robust=True)

    def response_delete(self, request, obj_display, obj_id):
        if not ChatMessage.objects.filter(pk=obj_id, deleted_at__isnull=False).exists():
            # Refused (the error is already shown): back to the message.
            return HttpResponseRedirect(reverse("admin:messaging_chatmessage_change", args=[obj_id]))
        response = super().response_delete(request, obj_display, obj_id)
        # Django goes back to the list only for those who may change messages; nobody may.
        response["Location"] = reverse("admin:messaging_chatmessage_changelist")
        return response
