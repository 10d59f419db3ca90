"""The sandbox's ASGI application with the benchmark's settings (its bare view added),
and, when ``SANDBOX_BENCH_LOG`` names a file, the benchmark's timestamps (bench.hooks)."""

from __future__ import annotations

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

from bench import hooks  # noqa: E402
from sandbox.asgi import application as app  # noqa: E402

hooks.install()

__all__ = ["app"]
