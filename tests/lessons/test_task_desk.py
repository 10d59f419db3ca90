"""A lesson task played on the learner's own desk: the desk set up from the engine's task
start, the task panel redrawn from the engine's check after real desk actions, hints,
the market moving on through the live tick, progress, and who may see it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client
from django.utils.html import escape

from sandbox import engine
from sandbox.desk import selectors as desk_selectors
from sandbox.desk.accounts import COOKIE, account_for_scope
from sandbox.desk.models import LedgerEntry, LiquidationRecord, Market, PaperAccount
from sandbox.desk.services import account_create
from sandbox.engine.tasks import play_then, task_start
from sandbox.lessons.models import Lesson, LessonProgress, TaskAccount
from sandbox.lessons.services import TaskRefused, task_open

from .task_lessons import CRASH, HINTS, SURVIVED, TASK_STEP, task_lesson

pytestmark = pytest.mark.django_db
NUMBER = TASK_STEP + 1  # the step's number in the player's URLs


def visitor() -> tuple[Client, PaperAccount]:
    client = Client()
    client.get("/")
    account = PaperAccount.objects.order_by("-id").first()
    assert account is not None
    return client, account


def opened(client: Client, lesson: Lesson) -> TaskAccount:
    response = client.post(f"/lessons/{lesson.slug}/{NUMBER}/task/")
    row = TaskAccount.objects.get(lesson=lesson)
    assert response.status_code == 302
    assert response["Location"] == f"/desk/{row.account_id}/XBTUSDT/#task-panel"
    return row


def panel(client: Client, row: TaskAccount) -> str:
    response = client.get(f"/lesson-task/{row.account_id}/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    body: str = response.content.decode()
    assert body.lstrip().startswith('<section id="task-panel"')
    return body


def add_margin(client: Client, row: TaskAccount, amount: str, htmx: bool = False) -> object:
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        f"/desk/{row.account_id}/XBTUSDT/margin/",
        {"direction": "add", "amount": amount},
        headers=headers,
    )


def ledger_adds_up(account_id: int) -> None:
    account = PaperAccount.objects.get(pk=account_id)
    state = desk_selectors.engine_account(account)
    for currency, balance in state.wallets.items():
        entries = LedgerEntry.objects.filter(account=account, currency=currency)
        assert sum((e.amount for e in entries), Decimal(0)) == balance


def test_the_task_desk_starts_as_the_engines_task_start(seeded: None) -> None:
    lesson = task_lesson("add-margin")
    learner = PaperAccount.objects.get(pk=visitor()[1].pk)
    row = task_open(learner=learner, lesson=lesson, index=TASK_STEP)
    start = task_start(lesson.parsed(), TASK_STEP)
    account = row.account
    assert account.parent_id == learner.pk
    assert account.market.kind == Market.Kind.LESSON and not account.market.running
    assert desk_selectors.engine_account(account) == start.account
    prices = desk_selectors.engine_market(account.market)
    assert dict(prices.marks) == dict(start.market.marks) == {"XBTUSDT": Decimal("50000")}
    # The lesson's terms (no fee here, where the desk charges 0.05%), the desk's tick.
    inst = prices.instrument("XBTUSDT")
    assert inst.taker_fee == 0 and inst.maint_margin_rate == Decimal("0.005")
    assert inst.tick_size == Decimal("0.5")
    figures = engine.account_figures(start.account, start.market).positions["XBTUSDT"]
    shown = engine.account_figures(desk_selectors.engine_account(account), prices)
    assert shown.positions["XBTUSDT"].liquidation_price == figures.liquidation_price == 47750
    reasons = set(LedgerEntry.objects.filter(account=account).values_list("reason", flat=True))
    assert reasons == {"deposit"}
    ledger_adds_up(account.pk)


def test_the_player_offers_the_task_and_sends_the_learner_to_their_desk(seeded: None) -> None:
    lesson = task_lesson("add-margin")
    client, _ = visitor()
    page = client.get(f"/lessons/{lesson.slug}/{NUMBER}/").content.decode()
    assert "Add margin until your liquidation price is below 47,000." in page
    assert "Do it on your desk" in page
    row = opened(client, lesson)
    desk = client.get(f"/desk/{row.account_id}/XBTUSDT/").content.decode()
    assert 'id="task-panel"' in desk and 'data-task-done="no"' in desk
    # It redraws itself after each of the desk's actions (their answers send the event).
    assert f'hx-get="/lesson-task/{row.account_id}/" hx-trigger="desk-changed from:body"' in desk
    assert "Your XBTUSDT liquidation price is 47,750; the goal is below 47,000." in desk
    assert "Lesson task: Add margin until" in desk  # the message that sent them here
    page = client.get(f"/lessons/{lesson.slug}/{NUMBER}/").content.decode()
    assert "Start the task again on your desk" in page
    assert f'href="/desk/{row.account_id}/XBTUSDT/#task-panel"' in page


def test_too_little_margin_says_what_is_missing_and_enough_meets_the_goal(
    seeded: None,
) -> None:
    lesson = task_lesson("add-margin")
    client, learner = visitor()
    row = opened(client, lesson)
    # A plain post: the desk again, its panel drawn from the new state.
    response = add_margin(client, row, "20")
    assert response.status_code == 302  # type: ignore[attr-defined]
    desk = client.get(response["Location"]).content.decode()  # type: ignore[index]
    assert "Your XBTUSDT liquidation price is 47,250; the goal is below 47,000." in desk
    # With htmx the desk's answer asks every listener to redraw ("desk-changed").
    answer = add_margin(client, row, "20", htmx=True)
    assert "desk-changed" in answer["HX-Trigger"]  # type: ignore[index]
    body = panel(client, row)
    assert 'data-goal="met"' in body and 'data-task-done="yes"' in body
    assert "XBTUSDT liquidation price below 47,000 (now 46,750)" in body
    assert "Let the market move on" in body
    progress = LessonProgress.objects.get(account=learner, lesson=lesson)
    assert progress.tasks_done == [TASK_STEP]


def test_the_market_moves_on_only_once_the_goals_are_met(seeded: None) -> None:
    lesson = task_lesson("add-margin")
    client, _ = visitor()
    row = opened(client, lesson)
    response = client.post(f"/lesson-task/{row.account_id}/move-on/", follow=True)
    assert "Not yet: Your XBTUSDT liquidation price is 47,750" in response.content.decode()
    row.refresh_from_db()
    assert row.moved_at is None and row.account.market.sequence == 0


def test_moving_on_plays_each_price_as_a_tick_and_the_position_survives(seeded: None) -> None:
    lesson = task_lesson("add-margin", SURVIVED)
    client, _ = visitor()
    row = opened(client, lesson)
    add_margin(client, row, "50")
    account = PaperAccount.objects.get(pk=row.account_id)
    state, prices = (
        desk_selectors.engine_account(account),
        desk_selectors.engine_market(account.market),
    )
    expected = play_then(lesson.parsed().tasks[TASK_STEP], state, prices)
    desk = client.post(f"/lesson-task/{row.account_id}/move-on/", follow=True).content.decode()
    account.market.refresh_from_db()
    assert account.market.sequence == 2  # one tick a move
    after = desk_selectors.engine_account(account)
    assert after == expected[-1].account
    assert desk_selectors.engine_market(account.market).marks["XBTUSDT"] == Decimal("47100")
    assert 'data-consequence="survived"' in desk
    assert "XBTUSDT mark 48,000, then XBTUSDT mark 47,100." in desk
    assert "Margin you add pushes the liquidation price away." in desk
    assert f'href="/lessons/{lesson.slug}/{NUMBER + 1}/?account=' in desk
    assert f'action="/lessons/{lesson.slug}/{NUMBER}/task/?account=' in desk  # start again
    # Once only, until the task starts again.
    again = client.post(f"/lesson-task/{row.account_id}/move-on/", follow=True)
    assert "already moved on" in again.content.decode()
    account.market.refresh_from_db()
    assert account.market.sequence == 2


def test_a_crash_past_the_new_liquidation_price_liquidates_as_the_engine_says(
    seeded: None,
) -> None:
    lesson = task_lesson("add-margin-crash", CRASH)
    client, _ = visitor()
    row = opened(client, lesson)
    add_margin(client, row, "50")
    account = PaperAccount.objects.get(pk=row.account_id)
    expected = play_then(
        lesson.parsed().tasks[TASK_STEP],
        desk_selectors.engine_account(account),
        desk_selectors.engine_market(account.market),
    )
    assert any(isinstance(e, engine.LiquidationEvent) for e in expected[-1].events)
    desk = client.post(f"/lesson-task/{row.account_id}/move-on/", follow=True).content.decode()
    record = LiquidationRecord.objects.get(account=account)
    assert record.liquidation_price == Decimal("46500") and record.mark_price == 46000
    assert desk_selectors.engine_account(account) == expected[-1].account
    assert 'data-consequence="liquidated"' in desk
    assert "your XBTUSDT position was taken over when the mark reached 46,000" in desk
    ledger_adds_up(account.pk)


def test_hints_come_one_at_a_time(seeded: None) -> None:
    lesson = task_lesson("add-margin")
    client, _ = visitor()
    row = opened(client, lesson)
    assert escape(HINTS[0]) not in panel(client, row)
    first = client.post(f"/lesson-task/{row.account_id}/hint/", headers={"HX-Request": "true"})
    body = first.content.decode()
    assert escape(HINTS[0]) in body and escape(HINTS[1]) not in body and "autofocus" in body
    plain = client.post(f"/lesson-task/{row.account_id}/hint/")
    assert plain["Location"] == f"/desk/{row.account_id}/XBTUSDT/#task-panel"
    client.post(f"/lesson-task/{row.account_id}/hint/")  # no more: nothing changes
    body = panel(client, row)
    assert escape(HINTS[0]) in body and escape(HINTS[1]) in body and "Another hint" not in body
    row.refresh_from_db()
    assert row.hints_shown == 2


def test_starting_again_sets_the_same_account_back_on_a_fresh_market(seeded: None) -> None:
    lesson = task_lesson("add-margin-crash", CRASH)
    client, _ = visitor()
    row = opened(client, lesson)
    add_margin(client, row, "50")
    client.post(f"/lesson-task/{row.account_id}/hint/")
    client.post(f"/lesson-task/{row.account_id}/move-on/")
    old_market = PaperAccount.objects.get(pk=row.account_id).market_id
    again = opened(client, lesson)
    assert again.account_id == row.account_id
    assert again.moved_at is None and again.hints_shown == 0
    account = PaperAccount.objects.get(pk=row.account_id)
    assert account.market_id != old_market
    assert not Market.objects.filter(pk=old_market).exists()
    start = task_start(lesson.parsed(), TASK_STEP)
    assert desk_selectors.engine_account(account) == start.account
    assert not LiquidationRecord.objects.filter(account=account, acknowledged=False).exists()
    ledger_adds_up(account.pk)
    assert "account reset" in client.get(f"/desk/{account.pk}/history/").content.decode()


def test_another_browser_sees_none_of_it(seeded: None) -> None:
    lesson = task_lesson("add-margin")
    owner, _ = visitor()
    row = opened(owner, lesson)
    stranger, _ = visitor()
    account = row.account_id
    assert stranger.get(f"/desk/{account}/XBTUSDT/").status_code == 404
    assert stranger.get(f"/lesson-task/{account}/").status_code == 404
    assert stranger.post(f"/lesson-task/{account}/hint/").status_code == 404
    assert stranger.post(f"/lesson-task/{account}/move-on/").status_code == 404
    assert stranger.post(f"/desk/{account}/XBTUSDT/margin/", {"amount": "50"}).status_code == 404
    row.refresh_from_db()
    assert row.hints_shown == 0 and row.moved_at is None


@pytest.mark.parametrize(
    "url",
    [
        "/lessons/{slug}/1/task/",  # a step without a task
        "/lessons/{slug}/99/task/",
        "/lessons/no-such-lesson/4/task/",
        "/lessons/{slug}/4/task/?account=999999",
        "/lessons/{slug}/4/task/?account=x",
    ],
)
def test_bad_task_addresses_are_not_found(seeded: None, url: str) -> None:
    lesson = task_lesson("add-margin")
    client, _ = visitor()
    assert client.post(url.format(slug=lesson.slug)).status_code == 404
    assert not TaskAccount.objects.exists()


@pytest.mark.parametrize("path", ["", "hint/", "move-on/"])
def test_an_account_that_plays_no_task_is_not_found(seeded: None, path: str) -> None:
    client, own = visitor()
    method = client.get if not path else client.post
    assert method(f"/lesson-task/{own.pk}/{path}").status_code == 404
    assert method(f"/lesson-task/{2**70}/{path}").status_code == 404


def test_a_contract_the_desk_does_not_trade_is_refused_with_a_reason(seeded: None) -> None:
    lesson = task_lesson("pepe", instrument="PEPEUSDT")
    client, learner = visitor()
    with pytest.raises(TaskRefused):
        task_open(learner=learner, lesson=lesson, index=TASK_STEP)
    page = client.post(f"/lessons/{lesson.slug}/{NUMBER}/task/", follow=True).content.decode()
    assert "This task trades PEPEUSDT as a linear contract settled in USDT" in page
    assert not TaskAccount.objects.exists()
    assert not Market.objects.filter(kind=Market.Kind.LESSON).exists()


def test_a_room_account_plays_the_task_with_the_account_parameter(seeded: None) -> None:
    lesson = task_lesson("add-margin")
    user = User.objects.create_user("amy", password="a long password 1234")
    first, second = account_create(user=user), account_create(user=user)
    client = Client()
    client.force_login(user)
    response = client.post(f"/lessons/{lesson.slug}/{NUMBER}/task/?account={first.pk}")
    row = TaskAccount.objects.get(lesson=lesson)
    assert row.learner_id == first.pk != second.pk
    assert response["Location"] == f"/desk/{row.account_id}/XBTUSDT/#task-panel"
    # A task account is not itself a learner of lessons.
    assert client.get(f"/lessons/{lesson.slug}/1/?account={row.account_id}").status_code == 404


def test_the_task_desks_socket_is_its_owners_only(seeded: None) -> None:
    lesson = task_lesson("add-margin")
    owner, _ = visitor()
    row = opened(owner, lesson)
    stranger, _ = visitor()

    def scope(client: Client) -> dict[str, object]:
        return {"cookies": {COOKIE: client.cookies[COOKIE].value}, "user": AnonymousUser()}

    found = account_for_scope(scope(owner), row.account_id)
    assert found is not None and found.pk == row.account_id
    assert account_for_scope(scope(stranger), row.account_id) is None


def test_a_funding_move_is_paid_as_the_engine_pays_it(seeded: None) -> None:
    funding = [{"op": "funding", "symbol": "XBTUSDT", "rate": "0.01"}, *SURVIVED[:1]]
    lesson = task_lesson("add-margin-funding", funding)
    client, _ = visitor()
    row = opened(client, lesson)
    add_margin(client, row, "50")
    account = PaperAccount.objects.get(pk=row.account_id)
    expected = play_then(
        lesson.parsed().tasks[TASK_STEP],
        desk_selectors.engine_account(account),
        desk_selectors.engine_market(account.market),
    )
    client.post(f"/lesson-task/{row.account_id}/move-on/")
    assert desk_selectors.engine_account(account) == expected[-1].account
    paid = LedgerEntry.objects.get(account=account, reason="funding")
    assert paid.amount == Decimal("-20")  # 1% of 0.04 x 50,000, paid by the long
    ledger_adds_up(account.pk)
    desk = client.get(f"/desk/{account.pk}/XBTUSDT/").content.decode()
    assert "XBTUSDT funding at a rate of 1%, then XBTUSDT mark 48,000." in desk


def test_a_task_the_lesson_no_longer_has_is_not_found_and_the_desk_still_opens(
    seeded: None,
) -> None:
    lesson = task_lesson("add-margin")
    client, _ = visitor()
    row = opened(client, lesson)
    without = task_lesson("plain", SURVIVED)
    source = without.source.replace('"task"', '"not_a_task"')
    Lesson.objects.filter(pk=lesson.pk).update(source=source)
    assert client.get(f"/lesson-task/{row.account_id}/").status_code == 404
    assert client.post(f"/lesson-task/{row.account_id}/move-on/").status_code == 404
    desk = client.get(f"/desk/{row.account_id}/XBTUSDT/")
    assert desk.status_code == 200 and 'id="task-panel"' not in desk.content.decode()


def test_a_browser_new_to_the_sandbox_gets_its_own_account_and_the_task_desk(
    seeded: None,
) -> None:
    lesson = task_lesson("add-margin")
    client = Client()
    response = client.post(f"/lessons/{lesson.slug}/{NUMBER}/task/")
    row = TaskAccount.objects.get(lesson=lesson)
    assert response["Location"] == f"/desk/{row.account_id}/XBTUSDT/#task-panel"
    assert COOKIE in response.cookies  # the learner's own account, remembered
    assert client.get(f"/desk/{row.account_id}/XBTUSDT/").status_code == 200
    assert client.get("/")["Location"] == f"/desk/{row.learner_id}/XBTUSDT/"
