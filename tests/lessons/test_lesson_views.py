"""The lesson player, answers, and teachers' uploads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sandbox.lessons.models import Lesson

pytestmark = pytest.mark.django_db
KAREN = "03-profit-realisation-avg-cost-price-and-avg-entry-price"


def test_the_list_shows_the_lessons_in_order(lessons: None, client: Client) -> None:
    page = client.get("/lessons/").content.decode()
    first = page.index("Isolated versus cross margin")
    assert first < page.index("The leverage slider and adding margin") < page.index("A stop-loss")
    assert "Upload a lesson file" not in page


def test_a_step_shows_narration_figures_and_ticks(lessons: None, client: Client) -> None:
    page = client.get(f"/lessons/{KAREN}/4/").content.decode()
    assert "Step 4 of 12" in page
    assert "Buy 20 ETHUSDT at the mark." in page
    assert 'data-stated="positions.ETHUSDT.liquidation_price" data-agrees="yes"' in page
    # Step 4 asks for the liquidation price: its figures wait for the answer.
    assert 'data-agrees="yes" data-hidden' in page and "<td>510</td>" not in page
    assert "<td>510</td><td>510</td>" in client.get(f"/lessons/{KAREN}/6/").content.decode()
    assert 'rel="prev"' in page and 'rel="next"' in page


def test_the_htmx_step_is_the_player_fragment(lessons: None, client: Client) -> None:
    response = client.get(f"/lessons/{KAREN}/9/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="player"')
    assert "<td>966.67</td><td>966.67</td>" in body


@pytest.mark.parametrize("number", [13, 999])
def test_steps_outside_the_lesson_are_not_found(lessons: None, client: Client, number: int) -> None:
    assert client.get(f"/lessons/{KAREN}/{number}/").status_code == 404
    assert client.get("/lessons/no-such-lesson/1/").status_code == 404


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("16420", "✓ Right."),
        ("16,420", "✓ Right."),
        ("16,42", "A comma here looks like a decimal point: write 16.42"),
        ("16400", "the engine says 16,420"),
    ],
)
def test_answers_are_checked_by_the_engine(
    lessons: None, client: Client, answer: str, verdict: str
) -> None:
    response = client.post(
        f"/lessons/{KAREN}/10/answer/", {"answer": answer}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert verdict in body
    if "Right" in verdict or "engine says" in verdict:
        assert "7,000 first repays what the losses drew from the wallet" in body


def test_a_step_without_a_question_takes_no_answer(lessons: None, client: Client) -> None:
    assert client.post(f"/lessons/{KAREN}/2/answer/", {"answer": "1"}).status_code == 404


def test_upload_is_for_teachers_only(lessons: None, client: Client, learner_client: Client) -> None:
    response = client.get("/lessons/upload/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert learner_client.get("/lessons/upload/").status_code == 403
    assert learner_client.post("/lessons/upload/", {}).status_code == 403


GOOD = {
    "name": "My own lesson",
    "lesson": {"title": "A teacher's lesson", "summary": "Short and sharp."},
    "steps": [
        {"op": "deposit", "currency": "USDT", "amount": "1000", "note": "Start with 1,000."},
        {"op": "mark", "symbol": "XBTUSDT", "price": "50000"},
        {
            "op": "order",
            "symbol": "XBTUSDT",
            "side": "buy",
            "qty": "0.01",
            "expect": {"positions": {"XBTUSDT": {"qty": "0.01"}}},
            "question": {
                "prompt": "What is the initial margin?",
                "figure": "positions.XBTUSDT.initial_margin",
                "places": 2,
            },
        },
    ],
}


def upload(client: Client, content: bytes) -> object:
    return client.post("/lessons/upload/", {"file": SimpleUploadedFile("lesson.json", content)})


def test_a_good_upload_is_saved_and_playable(teacher_client: Client) -> None:
    response = upload(teacher_client, json.dumps(GOOD, indent=1).encode())
    lesson = Lesson.objects.get(title="A teacher's lesson")
    assert response["Location"] == f"/lessons/{lesson.slug}/1/"  # type: ignore[index]
    assert not lesson.built_in
    page = teacher_client.get(f"/lessons/{lesson.slug}/3/").content.decode()
    assert "What is the initial margin?" in page


def test_a_bad_upload_is_refused_whole_naming_every_place(teacher_client: Client) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["steps"][1]["price"] = "fifty thousand"
    bad["steps"][2]["side"] = "long"
    bad["steps"][2]["question"]["figure"] = "margin"
    before = Lesson.objects.count()
    text = json.dumps(bad, indent=1)
    # With indent=1 each step opens on a line of its own: "  {".
    starts = [n for n, line in enumerate(text.splitlines(), start=1) if line == "  {"]
    response = upload(teacher_client, text.encode())
    body = response.content.decode()  # type: ignore[attr-defined]
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "The lesson was not saved." in body
    assert (
        f"line {starts[1]}, step 1 (mark), field &#x27;price&#x27;: "
        "&#x27;fifty thousand&#x27; is not a number" in body
    )
    assert (
        f"line {starts[2]}, step 2 (order), field &#x27;side&#x27;: "
        "expected &quot;buy&quot; or &quot;sell&quot;" in body
    )
    assert Lesson.objects.count() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"steps": [', "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"lesson": {"title": "x"}, "steps": []}', "a lesson needs at least one step"),
        (
            json.dumps({**GOOD, "lesson": {"title": ""}, "name": ""}).encode(),
            "the lesson needs a title",
        ),
    ],
)
def test_unreadable_uploads_say_why(teacher_client: Client, content: bytes, message: str) -> None:
    before = Lesson.objects.count()
    body = upload(teacher_client, content).content.decode()  # type: ignore[attr-defined]
    assert message in body
    assert Lesson.objects.count() == before


def test_an_upload_whose_figures_disagree_is_saved_with_warnings(teacher_client: Client) -> None:
    wrong = json.loads(json.dumps(GOOD))
    wrong["steps"][2]["expect"] = {"positions": {"XBTUSDT": {"initial_margin": "999"}}}
    response = upload(teacher_client, json.dumps(wrong).encode())
    page = teacher_client.get(response["Location"]).content.decode()  # type: ignore[index]
    assert "states positions.XBTUSDT.initial_margin = 999; the engine shows 5" in page


def test_the_built_in_files_match_the_database(lessons: None) -> None:
    folder = Path(__file__).resolve().parents[2] / "scenarios"
    karen = Lesson.objects.get(slug=KAREN)
    assert karen.source == (folder / "karen-profit-realisation.json").read_text()
    assert Lesson.objects.filter(built_in=True).count() == 7


# ---------------------------------------------------------------- what an upload may hold


def test_the_upload_page_states_the_limits(teacher_client: Client) -> None:
    page = teacher_client.get("/lessons/upload/").content.decode()
    assert "A lesson file may be at most 1 MB, and its title at most 200 characters." in page


def test_a_file_nested_100000_deep_is_refused_with_a_sentence(teacher_client: Client) -> None:
    before = Lesson.objects.count()
    response = upload(teacher_client, b"[" * 100_000 + b"]" * 100_000)
    body = response.content.decode()  # type: ignore[attr-defined]
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "line 1: arrays and objects nest more than 20 deep here" in body
    assert Lesson.objects.count() == before


def test_nesting_is_counted_outside_strings_only(teacher_client: Client) -> None:
    brackets = json.loads(json.dumps(GOOD))
    brackets["steps"][0]["note"] = '[{"' * 50  # text, not nesting
    response = upload(teacher_client, json.dumps(brackets, indent=1).encode())
    assert response.status_code == 302  # type: ignore[attr-defined]


def test_the_refusal_names_the_line_where_the_nesting_goes_too_deep(
    teacher_client: Client,
) -> None:
    deep = json.loads(json.dumps(GOOD))
    # The file's object, its steps and a step make 3 levels: the 18th array is the 21st.
    deep["steps"][1]["extra"] = json.loads("[" * 18 + "]" * 18)
    text = json.dumps(deep, indent=1)
    extra = text.index('"extra"')
    eighteenth = [at for at, char in enumerate(text) if char == "[" and at > extra][17]
    line = text.count("\n", 0, eighteenth) + 1
    before = Lesson.objects.count()

    response = upload(teacher_client, text.encode())

    assert response.status_code == 400  # type: ignore[attr-defined]
    body = response.content.decode()  # type: ignore[attr-defined]
    assert f"line {line}: arrays and objects nest more than 20 deep here" in body
    assert Lesson.objects.count() == before


@pytest.mark.parametrize(("length", "saved"), [(200, True), (201, False), (5000, False)])
def test_a_title_longer_than_200_characters_is_refused(
    teacher_client: Client, length: int, saved: bool
) -> None:
    before = Lesson.objects.count()
    titled = json.loads(json.dumps(GOOD))
    titled["lesson"]["title"] = "T" * length
    response = upload(teacher_client, json.dumps(titled).encode())
    assert Lesson.objects.count() == before + saved
    if not saved:
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert (
            f"the title has {length} characters; a lesson title may have at most 200. "
            "Shorten it." in response.content.decode()  # type: ignore[attr-defined]
        )


def test_a_lesson_file_up_to_1_mb_is_accepted_and_a_larger_one_refused(
    teacher_client: Client,
) -> None:
    text = json.dumps(GOOD)
    padding = 1024 * 1024 - len(text)
    exactly = text[:-1] + " " * padding + "}"  # JSON spaces: the same lesson, 1 MB long
    assert len(exactly.encode()) == 1024 * 1024
    before = Lesson.objects.count()

    refused = upload(teacher_client, (exactly + " ").encode())
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert (
        "The file is larger than 1 MB, the most a lesson file may be." in refused.content.decode()  # type: ignore[attr-defined]
    )
    assert Lesson.objects.count() == before

    assert upload(teacher_client, exactly.encode()).status_code == 302  # type: ignore[attr-defined]
    assert Lesson.objects.count() == before + 1


def test_a_steps_chart_spans_the_lesson_so_far(lessons: None, client: Client) -> None:
    # The marks of the steps so far fill the plot, the first at its left edge; the time
    # axis counts steps back from now (a live chart's 120-tick window would squeeze them).
    page = client.get(f"/lessons/{KAREN}/12/").content.decode()

    view_box = re.search(r'<svg id="chart-plot"[^>]* viewBox="([^"]*)"', page)
    assert view_box is not None
    assert view_box[1].startswith("0 ")
    assert 'text-anchor="end">now</text>' in page
    assert re.search(r">\u2212\d+ steps?</text>", page)
    assert "ticks</text>" not in page


def test_a_step_shows_the_desks_own_balances_and_positions_sections(
    lessons: None, client: Client
) -> None:
    """The desk's sections (not copies), read-only, with the step's figures and the
    insurance fund; nothing a learner's desk does with them (no Close, no live ids)."""
    page = client.get(f"/lessons/{KAREN}/5/").content.decode()
    balances = page[page.index('<section id="lesson-balances"') :]
    balances = balances[: balances.index("</section>")]
    assert '<tr data-currency="USDT">' in balances
    assert '<th scope="col">Insurance fund</th>' in balances
    assert "Reset account" not in balances
    positions = page[page.index('<section id="lesson-positions"') :]
    positions = positions[: positions.index("</section>")]
    assert '<tr data-symbol="ETHUSDT">' in positions
    assert 'aria-labelledby="lesson-positions-title"' in positions
    assert '<td data-figure="liquidation-price">' in positions
    assert "Close</button>" not in positions and "<a href=" not in positions
    assert 'id="pos-' not in page and 'id="bal-' not in page  # no spans a tick would update
