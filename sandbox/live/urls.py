from __future__ import annotations

from django.urls import path

from . import twins, views

urlpatterns = [
    path("desk/<int:account_id>/<str:symbol>/clock/", views.clock, name="clock"),
    path("desk/<int:account_id>/twins/<int:market_id>/", twins.twins_page, name="twins"),
    path(
        "desk/<int:account_id>/twins/<int:market_id>/again/", twins.twins_again, name="twins_again"
    ),
    path("desk/<int:account_id>/<str:symbol>/twins/", twins.twins_open, name="twins_open"),
    path(
        "desk/<int:account_id>/liquidations/<int:record_id>/dismiss/",
        views.liquidation_dismiss,
        name="liquidation_dismiss",
    ),
]
