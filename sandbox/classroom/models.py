"""Classrooms: a teacher's room, its market, and the learners who joined it."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from sandbox.desk.models import Market, PaperAccount
from sandbox.lessons.models import Lesson

from .names import MAX_KEY, MAX_NAME

# No 0/O, 1/I/L: a code read off a projector is typed without doubt. 31**8 ≈ 8.5e11 codes,
# and joining is rate-limited, so guessing one is out of reach in practice.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class Room(models.Model):
    teacher = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rooms"
    )
    name = models.CharField(max_length=100)
    code = models.CharField(max_length=CODE_LENGTH, unique=True, default=new_code)
    market = models.OneToOneField(Market, on_delete=models.PROTECT, related_name="room")
    starting_balances = models.JSONField(default=dict)  # {"USDT": "10000"}, exact text
    leaderboard_visible = models.BooleanField(default=True)
    # The secret of the projector's read-only link (empty: no link made yet).
    projector_key = models.CharField(max_length=64, blank=True, db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class RoomMember(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="members")
    account = models.OneToOneField(PaperAccount, on_delete=models.CASCADE, related_name="member")
    display_name = models.CharField(max_length=MAX_NAME)
    # The name as compared (names.name_key: NFKC, case folded), so names are unique.
    name_key = models.CharField(max_length=MAX_KEY)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(fields=["room", "name_key"], name="one_name_per_room")
        ]

    def __str__(self) -> str:
        return self.display_name


class RoomLesson(models.Model):
    """A lesson the teacher assigned to the room's learners."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="lessons")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="rooms")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lesson__number", "lesson__title"]
        constraints = [
            models.UniqueConstraint(fields=["room", "lesson"], name="one_assignment_per_lesson")
        ]

    def __str__(self) -> str:
        return f"{self.lesson} in {self.room}"
