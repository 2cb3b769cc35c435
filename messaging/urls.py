from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("rooms/new/", views.room_create, name="room_create"),
    path("rooms/<slug:slug>/", views.room_detail, name="room"),
    path("rooms/<slug:slug>/history/", views.room_history, name="room_history"),
    path("rooms/<slug:slug>/messages/", views.message_send, name="message_send"),
    path("rooms/<slug:slug>/messages/<int:seq>/versions/", views.message_versions, name="message_versions"),
    path("rooms/<slug:slug>/messages/<int:seq>/edit/", views.message_edit, name="message_edit"),
    path("rooms/<slug:slug>/messages/<int:seq>/delete/", views.message_delete, name="message_delete"),
    path("rooms/<slug:slug>/pins/", views.room_pins, name="room_pins"),
    path("rooms/<slug:slug>/threads/<int:root_seq>/", views.thread_detail, name="thread"),
    path("rooms/<slug:slug>/threads/<int:root_seq>/replies/", views.thread_replies, name="thread_replies"),
    path("rooms/<slug:slug>/threads/<int:root_seq>/follow/", views.thread_follow, name="thread_follow"),
    path("threads/", views.threads_view, name="threads"),
    path("direct/", views.direct_start, name="direct_start"),
    path("direct/new/", views.direct_new, name="direct_new"),
    path("rooms/<slug:slug>/settings/", views.room_settings, name="room_settings"),
    path("emoji.json", views.emoji_json, name="emoji"),
    path("rooms/<slug:slug>/join/", views.room_join, name="room_join"),
    path("rooms/<slug:slug>/leave/", views.room_leave, name="room_leave"),
    path("rooms/<slug:slug>/members/", views.member_add, name="member_add"),
    path("rooms/<slug:slug>/members/<int:user_id>/remove/", views.member_remove, name="member_remove"),
]
