from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    # Before the desk's own pattern, which would otherwise take "reset" for a symbol.
    path("desk/<int:account_id>/reset/", views.account_reset, name="account_reset"),
    path("desk/<int:account_id>/history/", views.history, name="history"),
    path("desk/<int:account_id>/<str:symbol>/", views.desk, name="desk"),
    path("desk/<int:account_id>/<str:symbol>/order/", views.order_submit, name="order_submit"),
    path(
        "desk/<int:account_id>/<str:symbol>/order/preview/",
        views.order_preview,
        name="order_preview",
    ),
    path(
        "desk/<int:account_id>/<str:symbol>/leverage/", views.leverage_apply, name="leverage_apply"
    ),
    path(
        "desk/<int:account_id>/<str:symbol>/leverage/preview/",
        views.leverage_preview,
        name="leverage_preview",
    ),
    path("desk/<int:account_id>/<str:symbol>/margin/", views.margin, name="margin"),
    path("desk/<int:account_id>/<str:symbol>/triggers/", views.triggers_set, name="triggers_set"),
    path("desk/<int:account_id>/<str:symbol>/close/", views.position_close, name="position_close"),
    path("desk/<int:account_id>/<str:symbol>/mark/", views.mark_set, name="mark_set"),
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
