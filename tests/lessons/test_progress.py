"""A learner's progress in a lesson: steps seen, questions answered, tasks done, as the
player records it and the lessons list shows it; ``?account=`` for an account the
browser owns, 404 for any other."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sandbox.desk.models import PaperAccount
from sandbox.desk.services import account_create
from sandbox.lessons.models import Lesson, LessonProgress
from sandbox.lessons.services import progress_answer, progress_step_seen, progress_task_done

pytestmark = pytest.mark.django_db
KAREN = "03-profit-realisation-avg-cost-price-and-avg-entry-price"


def own_account(client: Client) -> PaperAccount:
    client.get("/")
    account = PaperAccount.objects.order_by("-id").first()
    assert account is not None
    return account


def progress(account: PaperAccount, slug: str = KAREN) -> LessonProgress:
    return LessonProgress.objects.get(account=account, lesson__slug=slug)


def test_a_step_seen_is_recorded_for_the_browsers_account(lessons: None, client: Client) -> None:
    account = own_account(client)
    client.get(f"/lessons/{KAREN}/4/")
    client.get(f"/lessons/{KAREN}/2/")  # going back keeps the furthest step
    row = progress(account)
    assert row.furthest_step == 3
    assert row.completed_at is None
    client.get(f"/lessons/{KAREN}/12/")
    row = progress(account)
    assert row.furthest_step == 11
    assert row.completed_at is not None


def test_a_browser_that_never_visited_gets_no_account_from_reading(
    lessons: None, client: Client
) -> None:
    before = PaperAccount.objects.count()
    assert client.get(f"/lessons/{KAREN}/4/").status_code == 200
    assert client.get("/lessons/").status_code == 200
    assert PaperAccount.objects.count() == before
    assert not LessonProgress.objects.exists()


def test_step_zero_goes_on_from_the_furthest_step(lessons: None, client: Client) -> None:
    own_account(client)
    response = client.get(f"/lessons/{KAREN}/0/")
    assert response.status_code == 302 and response["Location"] == f"/lessons/{KAREN}/1/"
    client.get(f"/lessons/{KAREN}/5/")
    assert client.get(f"/lessons/{KAREN}/0/")["Location"] == f"/lessons/{KAREN}/5/"


def test_the_account_parameter_records_for_that_account_and_stays_on_the_links(
    lessons: None, client: Client
) -> None:
    own = own_account(client)
    # A second account the same user owns (as a room's account is the browser's).
    user_client = Client()
    user = User.objects.create_user("amy", password="a long password 1234")
    first = account_create(user=user)
    second = account_create(user=user)
    user_client.force_login(user)
    page = user_client.get(f"/lessons/{KAREN}/4/?account={first.pk}").content.decode()
    assert f'href="/lessons/{KAREN}/5/?account={first.pk}"' in page
    assert f'href="/lessons/{KAREN}/3/?account={first.pk}"' in page
    assert progress(first).furthest_step == 3
    assert not LessonProgress.objects.filter(account__in=[second, own]).exists()
    resumed = user_client.get(f"/lessons/{KAREN}/0/?account={first.pk}")
    assert resumed["Location"] == f"/lessons/{KAREN}/4/?account={first.pk}"


@pytest.mark.parametrize("raw", ["999999", "abc", "-1", "1e3", "٣", "9" * 40])
def test_an_account_not_this_browsers_is_not_found(lessons: None, client: Client, raw: str) -> None:
    own_account(client)
    other = account_create()
    assert client.get(f"/lessons/{KAREN}/4/?account={other.pk}").status_code == 404
    assert client.get(f"/lessons/{KAREN}/4/?account={raw}").status_code == 404
    assert client.get(f"/lessons/?account={other.pk}").status_code == 404
    assert not LessonProgress.objects.exists()


def test_answers_count_tries_until_the_first_right_one(lessons: None) -> None:
    account = account_create()
    lesson = Lesson.objects.get(slug=KAREN)
    step = min(lesson.parsed().questions)
    progress_answer(account=account, lesson=lesson, step=step, correct=False)
    progress_answer(account=account, lesson=lesson, step=step, correct=True)
    progress_answer(account=account, lesson=lesson, step=step, correct=False)  # changes nothing
    assert progress(account).questions == {
        str(step): {"tries": 2, "right": True, "first_try": False}
    }
    other = account_create()
    progress_answer(account=other, lesson=lesson, step=step, correct=True)
    assert progress(other).questions == {str(step): {"tries": 1, "right": True, "first_try": True}}


def test_bad_steps_are_refused_by_the_progress_services(lessons: None) -> None:
    account = account_create()
    lesson = Lesson.objects.get(slug=KAREN)
    with pytest.raises(ValueError, match="steps 0 to 11"):
        progress_step_seen(account=account, lesson=lesson, index=12)
    no_question = next(i for i in range(12) if i not in lesson.parsed().questions)
    with pytest.raises(ValueError, match="asks no question"):
        progress_answer(account=account, lesson=lesson, step=no_question, correct=True)
    assert not LessonProgress.objects.exists()


def test_the_list_shows_each_lessons_progress(lessons: None, client: Client) -> None:
    account = own_account(client)
    karen = Lesson.objects.get(slug=KAREN)
    questions = sorted(karen.parsed().questions)
    tasks = len(karen.parsed().tasks)
    page = client.get("/lessons/").content.decode()
    item = page[page.index(f'data-lesson="{KAREN}"') :]
    assert f"12 steps, {tasks} task" in item[: item.index("</li>")]
    client.get(f"/lessons/{KAREN}/6/")
    progress_answer(account=account, lesson=karen, step=questions[0], correct=True)
    page = client.get("/lessons/").content.decode()
    item = page[page.index(f'data-lesson="{KAREN}"') :]
    item = item[: item.index("</li>")]
    assert "Step 6 of 12" in item and f"0 of {tasks} task" in item
    assert f"1 of {len(questions)} question" in item and "right first time" in item
    assert f'href="/lessons/{KAREN}/0/"' in item
    for index in range(12):
        progress_step_seen(account=account, lesson=karen, index=index)
    page = client.get("/lessons/").content.decode()
    item = page[page.index(f'data-lesson="{KAREN}"') :]
    assert "<strong>Done</strong>" in item[: item.index("</li>")]


def test_a_task_done_is_recorded_once(lessons: None) -> None:
    account = account_create()
    lesson = Lesson.objects.get(slug=KAREN)
    progress_task_done(account=account, lesson=lesson, step=5)
    progress_task_done(account=account, lesson=lesson, step=2)
    progress_task_done(account=account, lesson=lesson, step=5)
    assert progress(account).tasks_done == [2, 5]


def test_the_answer_view_records_the_tries_for_the_learner(lessons: None, client: Client) -> None:
    account = own_account(client)
    url = f"/lessons/{KAREN}/10/answer/"
    client.post(url, {"answer": "16400"}, headers={"HX-Request": "true"})
    client.post(url, {"answer": "not a number"}, headers={"HX-Request": "true"})  # no try
    client.post(url, {"answer": "16420"}, headers={"HX-Request": "true"})
    assert progress(account).questions == {"9": {"tries": 2, "right": True, "first_try": False}}
    other = account_create()
    refused = client.post(f"{url}?account={other.pk}", {"answer": "16420"})
    assert refused.status_code == 404
    assert not LessonProgress.objects.filter(account=other).exists()


def test_the_answer_form_keeps_the_account_parameter(lessons: None) -> None:
    user = User.objects.create_user("bo", password="a long password 1234")
    room = account_create(user=user)
    client = Client()
    client.force_login(user)
    page = client.get(f"/lessons/{KAREN}/10/?account={room.pk}").content.decode()
    assert f'action="/lessons/{KAREN}/10/answer/?account={room.pk}"' in page
    client.post(f"/lessons/{KAREN}/10/answer/?account={room.pk}", {"answer": "16420"})
    assert progress(room).questions["9"] == {"tries": 1, "right": True, "first_try": True}
