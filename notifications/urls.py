from django.urls import path

from . import views

urlpatterns = [
    path("", views.notification_list, name="notifications"),
    path("<int:pk>/open/", views.notification_open, name="notification_open"),
    path("read-all/", views.notification_read_all, name="notification_read_all"),
    path("notify-count/", views.notify_count, name="notify_count"),
    path("email/unsubscribe/<str:token>/", views.missed_email_unsubscribe, name="missed_email_unsubscribe"),
]
