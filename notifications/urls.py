from django.urls import path

from . import preference_views, views

urlpatterns = [
    path("", views.notification_list, name="notifications"),
    path("<int:pk>/open/", views.notification_open, name="notification_open"),
    path("read-all/", views.notification_read_all, name="notification_read_all"),
    # Notification control (issue 16): the settings page, and what its forms and the room menu post.
    path("settings/", preference_views.settings_page, name="notify_settings"),
    path("settings/rooms/<int:room_id>/", preference_views.room_settings, name="notify_room_settings"),
    path("settings/dnd/", preference_views.dnd_settings, name="notify_dnd"),
    path("settings/desktop/", preference_views.desktop_settings, name="notify_desktop"),
    path("notify-count/", views.notify_count, name="notify_count"),
    path("email/unsubscribe/<str:token>/", views.missed_email_unsubscribe, name="missed_email_unsubscribe"),
]
