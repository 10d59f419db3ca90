"""The sandbox's ASGI application with the benchmark's settings (its bare view added)."""

from __future__ import annotations

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

from sandbox.asgi import application as app  # noqa: E402

__all__ = ["app"]
