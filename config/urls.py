from django.contrib import admin
from django.urls import include, path

from . import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("awareness.urls")),
    path("notifications/", include("notifications.urls")),
    path("search/", include("search.urls")),
    path("reminders/", include("reminders.urls")),
    path("scheduled/", include("scheduled.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("", include("messaging.urls")),
]
