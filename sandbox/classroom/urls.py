from __future__ import annotations

from django.urls import path

from . import projector_views, views

urlpatterns = [
    path("rooms/", views.room_list, name="room_list"),
    path("rooms/new/", views.room_new, name="room_new"),
    path("rooms/<str:code>/", views.room_panel, name="room_panel"),
    path("rooms/<str:code>/board/", views.room_board, name="room_board"),
    path("rooms/<str:code>/conduct/", views.room_conduct, name="room_conduct"),
    path("rooms/<str:code>/export.csv", views.room_export, name="room_export"),
    path("rooms/<str:code>/projector/", projector_views.room_projector, name="room_projector"),
    path(
        "rooms/<str:code>/projector/link/",
        projector_views.room_projector_link,
        name="room_projector_link",
    ),
    path(
        "rooms/<str:code>/projector/<str:key>/",
        projector_views.room_projector_key,
        name="room_projector_key",
    ),
    path("join/", views.join, name="join"),
    path("join/<str:code>/", views.join, name="join_code"),
]
