from .selectors import unread_count


def unread_notifications(request):
    """The header badge's number on every page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notification_count": unread_count(user)}
