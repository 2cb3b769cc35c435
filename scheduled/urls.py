from django.urls import path

from . import views

urlpatterns = [
    path("", views.scheduled_list, name="scheduled"),
    path("new/", views.create, name="scheduled_create"),
    path("<int:scheduled_id>/edit/", views.edit, name="scheduled_edit"),
    path("<int:scheduled_id>/cancel/", views.cancel, name="scheduled_cancel"),
]
