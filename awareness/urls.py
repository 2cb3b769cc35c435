from django.urls import path

from . import views

urlpatterns = [
    path("status/", views.status, name="status"),
    path("awareness/", views.privacy, name="awareness_settings"),
]
