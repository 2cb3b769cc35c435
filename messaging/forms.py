from django import forms
from django.conf import settings

from .actions.rooms import MAX_WINDOW_MINUTES
from .models import ChatRoom


class RoomForm(forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(max_length=300, required=False)
    is_private = forms.BooleanField(
        required=False, label="Private", help_text="Only people added by the room's admins can see it."
    )


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username")


def _minutes(value: int) -> str:
    return "no limit" if not value else f"{value} minute{'s' if value != 1 else ''}"


class RoomPolicyForm(forms.Form):
    """The room settings its managers choose; the site's defaults are shown beside each."""

    edit_window_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_WINDOW_MINUTES, label="Edit own messages for (minutes)"
    )
    delete_window_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_WINDOW_MINUTES, label="Delete own messages for (minutes)"
    )
    history_visible_to = forms.ChoiceField(required=False, label="Earlier versions of edited messages")
    pins_by = forms.ChoiceField(choices=ChatRoom.Audience.choices, label="Who can pin messages")
    group_mentions_by = forms.ChoiceField(
        required=False, label="Who can notify everyone with @room and @here"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        site = settings.PARLEY
        window_help = "Empty: the site's default ({}). 0: no limit."
        edit_default, delete_default = site["EDIT_WINDOW_MINUTES"], site["DELETE_WINDOW_MINUTES"]
        self.fields["edit_window_minutes"].help_text = window_help.format(_minutes(edit_default))
        self.fields["delete_window_minutes"].help_text = (
            window_help.format(_minutes(delete_default))
            + " The room's owner and admins can delete any message at any time."
        )
        audiences = dict(ChatRoom.Audience.choices)
        site_audience = audiences.get(site["HISTORY_VISIBLE_TO"], site["HISTORY_VISIBLE_TO"])
        self.fields["history_visible_to"].choices = [
            ("", f"The site's default ({site_audience.lower()})"),
            *ChatRoom.Audience.choices,
        ]
        self.fields["history_visible_to"].help_text = "Who can open an edited message's earlier versions."
        limit = site["GROUP_MENTION_MEMBERS"]
        self.fields["group_mentions_by"].choices = [
            ("", f"Everyone while the room has up to {limit} members, then the owner and admins"),
            (ChatRoom.Audience.MEMBERS, "Everyone"),
            (ChatRoom.Audience.MANAGERS, "Only the owner and admins"),
        ]
        self.fields["group_mentions_by"].help_text = (
            "@room notifies every member, @here those online now. From anyone else they are sent "
            "as plain text, and the sender is told."
        )

    @classmethod
    def for_room(cls, room: ChatRoom, data=None) -> "RoomPolicyForm":
        initial = {
            "edit_window_minutes": room.edit_window_minutes,
            "delete_window_minutes": room.delete_window_minutes,
            "history_visible_to": room.history_visible_to,
            "pins_by": room.pins_by,
            "group_mentions_by": room.group_mentions_by,
        }
        return cls(data, initial=initial)
