"""Answering a lesson's question: answers typed as the app prints its figures, a clear
message for anything else (never a 500), and the figures that would give the answer away
hidden from the step until the learner has answered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sandbox.desk.accounts import COOKIE
from sandbox.lessons.models import Lesson

pytestmark = pytest.mark.django_db
KAREN = "/lessons/03-profit-realisation-avg-cost-price-and-avg-entry-price"
LESSON_ONE = "/lessons/01-isolated-versus-cross-margin"
PRIMER = "/lessons/05-20x-a-5-fall-a-margin-call-a-gap-and-no-way-back"
HTMX = {"HX-Request": "true"}


@pytest.mark.parametrize(
    "answer",
    ["16420", "16,420", "16 420", "16\u202f420", "16,420.00", "16420 USDT", "+16,420"],
)
def test_an_answer_written_as_the_app_prints_it_is_right(
    lessons: None, client: Client, answer: str
) -> None:
    body = client.post(f"{KAREN}/10/answer/", {"answer": answer}, headers=HTMX).content
    assert 'data-answer="right"' in body.decode()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("44,25", "A comma here looks like a decimal point: write 44.25"),
        ("1.234,5", "A comma here looks like a decimal point: write 1234.5"),
        ("16,4200", "In 16,4200 the commas are not between thousands"),
        ("1e4", "exponent notation (such as 1e3) is not accepted"),
        ("sixteen", "Enter a number, like 44,250.5 or -3.5."),
        ("16420 ETH", "Enter a number, like 44,250.5 or -3.5."),
        ("", "Enter your answer as a number, like 44,250.5."),
        ("9" * 41, "That is too long to be an answer: at most 40 characters."),
        ("9" * 35, "That number is too large or too long: at most 30 digits"),
        ("\u0661\u0666", "Enter a number"),  # Arabic-Indic digits
        ("NaN", "Enter a number"),
    ],
)
def test_a_bad_answer_says_how_to_write_it_and_changes_nothing(
    lessons: None, client: Client, answer: str, message: str
) -> None:
    response = client.post(f"{KAREN}/10/answer/", {"answer": answer})
    body = response.content.decode()
    assert response.status_code == 400
    assert message in body
    assert 'aria-invalid="true" aria-describedby="answer-error"' in body
    assert "data-answer=" not in body
    htmx = client.post(f"{KAREN}/10/answer/", {"answer": answer}, headers=HTMX)
    assert htmx.status_code == 200 and message in htmx.content.decode()


def test_a_negative_answer_with_the_minus_sign_is_read(lessons: None, client: Client) -> None:
    # Not the answer (Karen's available balance is never negative), but a number all the same.
    body = client.post(f"{KAREN}/10/answer/", {"answer": "\u221216,420"}, headers=HTMX).content
    assert "the engine says 16,420" in body.decode()


def player(client: Client, url: str, **kwargs: str) -> str:
    return client.get(url, **kwargs).content.decode()  # type: ignore[arg-type]


def test_the_figure_a_question_asks_for_waits_for_the_answer(lessons: None, client: Client) -> None:
    # Lesson 1, step 4: "How much XBT can this position lose at most?" (its margin, 4).
    page = player(client, f"{LESSON_ONE}/4/")
    row = page[page.index('data-stated="positions.XBTUSD.position_margin"') :]
    row = row[: row.index("</tr>")]
    assert "data-hidden" in row and "Hidden until you answer the question" in row
    assert "<td>4</td>" not in row
    # The available balance the step states is not the answer: it stays.
    assert 'data-stated="balances.XBT.available_balance" data-agrees="yes">' in page
    assert "The positions table shows the answer to the question" in page
    assert 'id="lesson-positions"' not in page
    assert 'id="lesson-balances"' in page


def test_answering_shows_the_hidden_figures_in_place(lessons: None, client: Client) -> None:
    response = client.post(f"{LESSON_ONE}/4/answer/", {"answer": "3"}, headers=HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="question"')
    assert 'data-answer="wrong"' in body and "the engine says 4" in body
    # The figures come with the answer, swapped out of band.
    assert '<div id="lesson-figures" class="col wide" hx-swap-oob="true">' in body
    assert '<section id="stated" class="card" aria-labelledby="stated-title" hx-swap-oob' in body
    assert 'id="lesson-positions"' in body
    stated = body[body.index('data-stated="positions.XBTUSD.position_margin"') :]
    assert "<td>4</td><td>4</td>" in stated[: stated.index("</tr>")]


def test_a_question_whose_answer_is_not_on_screen_hides_nothing(
    lessons: None, client: Client
) -> None:
    # Karen, step 10: the available balance after a rise and a realisation; the screen
    # shows today's 4,420, not the answer.
    page = player(client, f"{KAREN}/10/")
    assert "data-hidden" not in page and "data-figures-hidden" not in page
    body = client.post(f"{KAREN}/10/answer/", {"answer": "1"}, headers=HTMX).content.decode()
    assert "hx-swap-oob" not in body


def test_the_chart_draws_no_line_at_the_hidden_price(lessons: None, client: Client) -> None:
    # Lesson 5, step 4 asks for the bankruptcy price.
    page = player(client, f"{PRIMER}/4/")
    assert 'data-stated="positions.XBTUSDT.bankruptcy_price"' in page
    assert "ref-bankruptcy" not in page and "ref-liquidation" in page
    assert "Bankruptcy price" not in page  # nor in the chart's description
    answered = client.post(f"{PRIMER}/4/answer/", {"answer": "47,500"}).content.decode()
    assert 'data-answer="right"' in answered
    assert "ref-bankruptcy" in answered


def test_once_answered_the_step_shows_everything_when_visited_again(
    lessons: None, client: Client
) -> None:
    client.get("/")  # a browser with its own paper account
    assert COOKIE in client.cookies
    assert "data-hidden" in player(client, f"{LESSON_ONE}/4/")
    client.post(f"{LESSON_ONE}/4/answer/", {"answer": "4 XBT"})
    page = player(client, f"{LESSON_ONE}/4/")
    assert "data-hidden" not in page and 'id="lesson-positions"' in page
    assert "data-hidden" in player(client, f"{LESSON_ONE}/10/")  # another question waits


def test_a_note_that_gives_the_answer_away_waits_for_it(lessons: None, client: Client) -> None:
    # A teacher's lesson whose narration states the answer to its own question.
    steps: list[dict[str, Any]] = [
        {"op": "deposit", "currency": "USDT", "amount": "10000"},
        {"op": "mark", "symbol": "XBTUSDT", "price": "50000"},
        {
            "op": "order",
            "symbol": "XBTUSDT",
            "side": "buy",
            "qty": "0.1",
            "note": "Cross at 100x: the initial margin is 50 USDT.",
            "question": {
                "prompt": "What is the initial margin?",
                "figure": "positions.XBTUSDT.initial_margin",
            },
        },
    ]
    source = json.dumps({"name": "Told", "lesson": {"title": "Told"}, "steps": steps})
    Lesson.objects.create(slug="told", title="Told", source=source)
    page = player(client, "/lessons/told/3/")
    assert "Cross at 100x" not in page
    assert "This step's narration gives the question's answer away" in page
    body = client.post("/lessons/told/3/answer/", {"answer": "50"}, headers=HTMX).content
    narration = body.decode()[body.decode().index('<section id="narration"') :]
    assert 'hx-swap-oob="true"' in narration[:200]
    assert "<p data-note>Cross at 100x: the initial margin is 50 USDT.</p>" in narration


def test_a_balance_that_answers_the_question_hides_the_balances(
    lessons: None, client: Client
) -> None:
    steps: list[dict[str, Any]] = [
        {"op": "deposit", "currency": "USDT", "amount": "1000"},
        {"op": "mark", "symbol": "XBTUSDT", "price": "50000"},
        {
            "op": "order",
            "symbol": "XBTUSDT",
            "side": "buy",
            "qty": "0.01",
            "note": "Half a thousand's worth.",
            "expect": {"balances": {"USDT": {"available_balance": "995"}}},
            "question": {
                "prompt": "How much is still available?",
                "figure": "balances.USDT.available_balance",
            },
        },
    ]
    source = json.dumps({"name": "Left", "lesson": {"title": "Left"}, "steps": steps})
    Lesson.objects.create(slug="left", title="Left", source=source)
    page = player(client, "/lessons/left/3/")
    assert 'id="lesson-balances"' not in page
    assert "The balances show the answer to the question" in page
    assert 'id="lesson-positions"' in page  # the positions do not hold it
    assert 'data-stated="balances.USDT.available_balance" data-agrees="yes" data-hidden' in page
    body = client.post("/lessons/left/3/answer/", {"answer": "995"}).content.decode()
    assert 'id="lesson-balances"' in body and "data-hidden" not in body
