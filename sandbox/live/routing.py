from __future__ import annotations

from django.urls import path

from .consumers import DeskConsumer
from .twins import TwinsConsumer

websocket_urlpatterns = [
    path("ws/desk/<int:account_id>/<str:symbol>/", DeskConsumer.as_asgi()),
    path("ws/twins/<int:account_id>/<int:market_id>/", TwinsConsumer.as_asgi()),
]
