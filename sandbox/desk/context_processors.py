from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .roles import is_teacher


def roles(request: HttpRequest) -> dict[str, Any]:
    """``is_teacher`` for every template (the header's "Your rooms" link)."""
    return {"is_teacher": is_teacher(request.user)}
