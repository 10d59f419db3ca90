from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("desk/<int:account_id>/<str:symbol>/clock/", views.clock, name="clock"),
    path(
        "desk/<int:account_id>/liquidations/<int:record_id>/dismiss/",
        views.liquidation_dismiss,
        name="liquidation_dismiss",
    ),
]
