from __future__ import annotations

from django.urls import path

from .consumers import DeskConsumer

websocket_urlpatterns = [
    path("ws/desk/<int:account_id>/<str:symbol>/", DeskConsumer.as_asgi()),
]
