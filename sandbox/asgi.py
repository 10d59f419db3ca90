"""ASGI entry point: Django for HTTP (static files served by the app itself, through
WhiteNoise's middleware), Channels for websockets (the live market builds on it)."""

from __future__ import annotations

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from sandbox.startup import check_database_or_exit, tune_memory  # noqa: E402

# Before any thread starts (glibc fixes its arenas at a thread's first allocation): one
# malloc arena, and freed memory given back every second (see sandbox.startup).
tune_memory(settings.SANDBOX_MALLOC_TUNING)

# A missing, read-only or unmigrated database: refuse to start, saying why (not 500s).
check_database_or_exit()

from sandbox.staticfiles import check_static_files_or_exit  # noqa: E402

# Static files not collected: the same.
check_static_files_or_exit()

from sandbox import daphne_request  # noqa: E402
from sandbox.handlers import SandboxASGIHandler  # noqa: E402
from sandbox.limits import RequestBodyLimit  # noqa: E402

# Under daphne, an oversized body is refused as its headers arrive, before it is read.
daphne_request.install()

django_asgi_app = SandboxASGIHandler()

# Imported after Django is set up, as Channels requires.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from sandbox.live.ticker import EmbeddedTicker  # noqa: E402
from sandbox.routing import websocket_urlpatterns  # noqa: E402
from sandbox.sockets import SameOriginValidator, with_not_found  # noqa: E402

router = ProtocolTypeRouter(
    {
        # The classroom runs offline: the app serves its own CSS and JavaScript (the
        # middleware of sandbox.staticfiles). A body over its path's limit is answered 413
        # before it is read.
        "http": RequestBodyLimit(django_asgi_app),
        # Sockets of this site's own pages only (scheme, host and port), with the user of
        # their cookies; an unknown address is refused with 4404 rather than an error.
        "websocket": SameOriginValidator(URLRouter(with_not_found(websocket_urlpatterns))),
    }
)
# One process runs everything by default: the market ticker starts in this event loop.
application = EmbeddedTicker(router)

# Everything imported so far (Django, the app's models, views, template tags and websocket
# routes) lives as long as the server: keep it out of the garbage collector's scans. Full
# collections over all of it were most of the slowest answers. The URL patterns and the
# templates are not in it: they are loaded and compiled later, at the first request and
# the first use of each template, and scanned like everything else.
gc.freeze()
