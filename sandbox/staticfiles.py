"""Static files: collected with hashed names, gzipped, served by the app itself.

``manage.py collectstatic`` (``make setup`` runs it) copies the CSS, the JavaScript (htmx
included) and the icons into ``STATIC_ROOT``, each also under a name holding a hash of its
content, with a gzipped copy beside it. The pages link the hashed names; WhiteNoise serves
them with ``Cache-Control: max-age=315360000, public, immutable`` (a new version has a new
name) and the gzipped copy to a browser that accepts it. An address that names no
collected file goes on to Django and answers its 404 page: WhiteNoise looks addresses up in
the list of files it made at startup, never in the file system.

Without the collected files every page would fail, so the web server refuses to start
without them, saying what to run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.responders import StaticFile

from sandbox.startup import refuse_to_start

COLLECT = ".venv/bin/python manage.py collectstatic --noinput (make run does it)"
MANIFEST = "staticfiles.json"


class StaticFilesMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]
    """WhiteNoise's middleware, answering with the file's bytes rather than a file to
    stream: the files are small (the largest, htmx, is 51 KB), and under ASGI Django would
    otherwise read a streamed file in a thread of its own and warn about each one."""

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponseBase] | None = None
    ) -> None:
        super().__init__(get_response)

    @staticmethod
    def serve(static_file: StaticFile, request: HttpRequest) -> HttpResponse:
        answer = static_file.get_response(request.method, request.META)
        content = b""
        if answer.file is not None:
            with answer.file:
                content = answer.file.read()
        response = HttpResponse(content, status=int(answer.status))
        del response["Content-Type"]
        for name, value in answer.headers:
            response[name] = value
        return response


def static_files_problem() -> str | None:
    """Why the pages cannot link their static files, in a sentence; None when they can:
    the collected files and their list must be there, and list every file there is."""
    root = Path(settings.STATIC_ROOT)
    manifest = root / MANIFEST
    try:
        listed = json.loads(manifest.read_text())["paths"]
    except (OSError, ValueError, KeyError, TypeError):
        listed = None
    if not isinstance(listed, dict):
        return f"The static files are not collected in {root}. Collect them first: {COLLECT}."
    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            prefix = getattr(storage, "prefix", None) or ""
            name = f"{prefix}/{path}" if prefix else path
            if name.replace(os.sep, "/") not in listed:
                return (
                    f"The static files collected in {root} are out of date ({name} is not "
                    f"among them). Collect them again: {COLLECT}."
                )
    return None


def check_static_files_or_exit() -> None:
    """Refuse to start (exit status 1, the reason on stderr) without the collected files."""
    refuse_to_start(static_files_problem())
