from django.urls import path

from . import views

urlpatterns = [
    path("", views.reminder_list, name="reminders"),
    path("new/", views.reminder_new, name="reminder_new"),
    path("<int:pk>/cancel/", views.reminder_cancel, name="reminder_cancel"),
]
