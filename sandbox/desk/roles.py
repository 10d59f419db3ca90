"""The teacher role: a signed-in user in the "teachers" group.

Teachers upload lessons (and, with the classroom, run rooms). ``python manage.py
create_teacher NAME`` creates one, or gives the role to an existing user.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

TEACHERS = "teachers"


def is_teacher(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.groups.filter(name=TEACHERS).exists())  # type: ignore[attr-defined]


def make_teacher(user: Any) -> None:
    group, _ = Group.objects.get_or_create(name=TEACHERS)
    user.groups.add(group)


def teacher_required(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Signed-out visitors go to the login page; signed-in non-teachers get a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"/login/?next={request.path}")
        if not is_teacher(request.user):
            raise PermissionDenied("Only teachers can do this.")
        return view(request, *args, **kwargs)

    return wrapper
