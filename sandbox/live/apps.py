from __future__ import annotations

from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "sandbox.live"
    label = "live"
    verbose_name = "Live market"

    def ready(self) -> None:
        from sandbox.desk import screen

        from .render import live_layer

        screen.register_layer(live_layer)
