"""``python manage.py create_teacher NAME``: a teacher account (or the role for a user)."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.desk.roles import make_teacher


class Command(BaseCommand):
    help = "Create a teacher (or make an existing user a teacher)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--password-from-env",
            metavar="VARIABLE",
            help="read the password from this environment variable instead of asking",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["username"]
        user = User.objects.filter(username=name).first()
        if user is None:
            variable = options["password_from_env"]
            if variable:
                password = os.environ.get(variable, "")
            else:
                password = getpass.getpass(f"Password for {name}: ")
                if password != getpass.getpass("Again: "):
                    raise CommandError("The two passwords differ; nothing was created.")
            user = User(username=name)
            try:
                validate_password(password, user)
            except ValidationError as problem:
                raise CommandError(" ".join(problem.messages)) from None
            user.set_password(password)
            user.save()
        make_teacher(user)
        self.stdout.write(f"{name} is a teacher: log in at /login/ to upload lessons.")
