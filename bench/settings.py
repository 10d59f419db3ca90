"""The sandbox's settings with the benchmark's bare view added to its routes."""

from __future__ import annotations

from sandbox.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
