from __future__ import annotations

from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "sandbox.desk"
    label = "desk"
    verbose_name = "Trading desk"
