from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sandbox.desk import services
from sandbox.desk.roles import make_teacher
from sandbox.lessons.services import lessons_seed


@pytest.fixture
def seeded(db: None) -> None:
    """The desk's instruments only (the task tests make their own lessons)."""
    services.instruments_seed()


@pytest.fixture
def lessons(db: None) -> None:
    services.instruments_seed()
    lessons_seed()


@pytest.fixture
def teacher_client(lessons: None) -> Client:
    user = User.objects.create_user("ms-lovelace", password="a long teacher password 42")
    make_teacher(user)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def learner_client(lessons: None) -> Client:
    user = User.objects.create_user("learner", password="a long learner password 42")
    client = Client()
    client.force_login(user)
    return client
