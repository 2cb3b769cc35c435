from messaging.selectors import unread_thread_count

from .selectors import unread_count


def unread_notifications(request):
    """The header badges' numbers on every page: unread notifications, and followed threads with
    unread replies."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notification_count": unread_count(user), "unread_thread_count": unread_thread_count(user)}
