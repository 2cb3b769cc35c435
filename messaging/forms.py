from django import forms


class RoomForm(forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(max_length=300, required=False)
    is_private = forms.BooleanField(
        required=False, label="Private", help_text="Only people added by the room's admins can see it."
    )


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username")
