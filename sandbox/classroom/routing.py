from __future__ import annotations

from django.urls import path

from .consumers import BoardConsumer, ProjectorConsumer

websocket_urlpatterns = [
    path("ws/rooms/<str:code>/board/", BoardConsumer.as_asgi()),
    path("ws/rooms/<str:code>/projector/", ProjectorConsumer.as_asgi()),
    path("ws/rooms/<str:code>/projector/<str:key>/", ProjectorConsumer.as_asgi()),
]
