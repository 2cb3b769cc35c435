"""The room page's parts of scheduling: the count of one's scheduled messages in the room."""

from django import template

from ..selectors import room_indicator

register = template.Library()


@register.inclusion_tag("scheduled/indicator.html", takes_context=True)
def scheduled_indicator(context, room):
    return {"room": room, **room_indicator(user=context["request"].user, room_id=room.id)}
