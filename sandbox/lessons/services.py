"""Loading lessons: the built-in files, and a teacher's upload (validated whole first)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from sandbox import engine
from sandbox.desk import selectors as desk_selectors
from sandbox.desk import services as desk_services
from sandbox.desk.models import LiquidationRecord, Market, MarkPrice, PaperAccount
from sandbox.desk.services import outcome_save
from sandbox.engine.lessons import parse_lesson
from sandbox.engine.scenario import ScenarioFormatError, run_scenario
from sandbox.engine.tasks import Task, task_check, task_start, task_then
from sandbox.limits import size_text
from sandbox.live import services as live_services

from .models import Lesson, LessonProgress, TaskAccount

BUILT_IN_FOLDER = Path(settings.BASE_DIR) / "scenarios"
MAX_UPLOAD_BYTES: int = settings.SANDBOX_MAX_LESSON_FILE_BYTES
MAX_TITLE_LENGTH = Lesson._meta.get_field("title").max_length or 200


def lessons_seed() -> int:
    """Load every file of scenarios/ that carries a "lesson" block (idempotent)."""
    count = 0
    for path in sorted(BUILT_IN_FOLDER.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        try:
            lesson = parse_lesson(text)
        except ScenarioFormatError:
            continue
        if lesson.number is None:
            continue
        Lesson.objects.update_or_create(
            slug=f"{lesson.number:02d}-{slugify(lesson.title)[:60]}",
            defaults={
                "title": lesson.title,
                "summary": lesson.summary,
                "number": lesson.number,
                "source": text,
                "built_in": True,
            },
        )
        count += 1
    return count


def too_large_message() -> str:
    return f"The file is larger than {size_text(MAX_UPLOAD_BYTES)}, the most a lesson file may be."


class UploadRefused(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class Uploaded:
    lesson: Lesson
    warnings: list[str]  # stated figures the engine does not agree with


def lesson_upload(*, data: bytes, user: User) -> Uploaded:
    """Validate a lesson file whole, then save it; nothing is saved if anything is wrong."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused([too_large_message()])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRefused(["The file is not UTF-8 text: save it as UTF-8 JSON."]) from None
    try:
        lesson = parse_lesson(text)
    except ScenarioFormatError as problem:
        raise UploadRefused(problem.errors) from None
    if len(lesson.title) > MAX_TITLE_LENGTH:
        raise UploadRefused(
            [
                f"field 'lesson.title': the title has {len(lesson.title)} characters; a "
                f"lesson title may have at most {MAX_TITLE_LENGTH}. Shorten it."
            ]
        )
    run = run_scenario(lesson.scenario)
    warnings = [
        f"step {m.index} ({m.op}): the file states {m.figure} = {m.expected}; the engine "
        f"shows {m.actual}"
        for m in run.mismatches
    ]
    base = slugify(lesson.title)[:60] or "lesson"
    with transaction.atomic():
        slug, n = base, 1
        while Lesson.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        saved = Lesson.objects.create(
            slug=slug,
            title=lesson.title,
            summary=lesson.summary,
            source=text,
            uploaded_by=user,
        )
    return Uploaded(saved, warnings)


# ------------------------------------------------------------------------------ progress


def _progress_locked(account: PaperAccount, lesson: Lesson) -> LessonProgress:
    """The learner's progress row in this lesson, locked for the change (made if new)."""
    progress, _ = LessonProgress.objects.select_for_update().get_or_create(
        account=account, lesson=lesson
    )
    return progress


def progress_step_seen(*, account: PaperAccount, lesson: Lesson, index: int) -> LessonProgress:
    """The learner saw step ``index`` (0-based): the furthest step moves on, and the lesson
    is completed when its last step is reached."""
    steps = lesson.parsed().steps
    if not 0 <= index < steps:
        raise ValueError(f"the lesson has steps 0 to {steps - 1}")
    with transaction.atomic():
        progress = _progress_locked(account, lesson)
        fields = ["updated_at"]
        if index > progress.furthest_step:
            progress.furthest_step = index
            fields.append("furthest_step")
        if index == steps - 1 and progress.completed_at is None:
            progress.completed_at = timezone.now()
            fields.append("completed_at")
        progress.save(update_fields=fields)
        return progress


def progress_answer(
    *, account: PaperAccount, lesson: Lesson, step: int, correct: bool
) -> LessonProgress:
    """An answer to the question of step ``step`` (0-based): one more try until the first
    right one; ``first_try`` says the first try was right. Tries after a right answer
    change nothing."""
    if step not in lesson.parsed().questions:
        raise ValueError(f"step {step} asks no question")
    with transaction.atomic():
        progress = _progress_locked(account, lesson)
        entry = dict(progress.questions.get(str(step)) or {})
        if entry.get("right"):
            return progress
        tries = int(entry.get("tries", 0)) + 1
        entry = {"tries": tries, "right": correct, "first_try": correct and tries == 1}
        progress.questions = {**progress.questions, str(step): entry}
        progress.save(update_fields=["questions", "updated_at"])
        return progress


def progress_task_done(*, account: PaperAccount, lesson: Lesson, step: int) -> LessonProgress:
    """The learner met every goal of the task of step ``step`` (0-based)."""
    known = LessonProgress.objects.filter(account=account, lesson=lesson).first()
    if known is not None and step in known.tasks_done:
        return known
    with transaction.atomic():
        progress = _progress_locked(account, lesson)
        if step not in progress.tasks_done:
            progress.tasks_done = sorted([*progress.tasks_done, step])
            progress.save(update_fields=["tasks_done", "updated_at"])
        return progress


# ------------------------------------------------------------------------------ tasks


class TaskRefused(Exception):
    """A task that cannot be started or moved on; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def lesson_task(lesson: Lesson, index: int) -> Task:
    """The task of step ``index`` (0-based); LookupError if that step has none."""
    task = lesson.parsed().tasks.get(index)
    if task is None:
        raise LookupError(f"step {index} of {lesson.slug} has no task")
    return task


def traded(
    instruments: Mapping[str, engine.Instrument], symbols: Iterable[str]
) -> dict[str, engine.Instrument]:
    """The lesson's instruments a task's desk trades: those with a price when it starts
    (the lesson may know others it never prices)."""
    wanted = set(symbols)
    return {symbol: inst for symbol, inst in instruments.items() if symbol in wanted}


def desk_terms(instruments: Mapping[str, engine.Instrument]) -> dict[str, engine.Instrument]:
    """The lesson's contracts as the desk trades them: the desk's instrument (its tick and
    quantity step, which its controls use) under the lesson's margin terms (maintenance
    rate, leverage limit, fee, funding rate). TaskRefused when the desk has no such
    contract, or one of another kind or settle currency."""
    desk = {row.symbol: row.to_engine() for row in desk_selectors.instruments()}
    terms = {}
    for symbol, inst in instruments.items():
        own = desk.get(symbol)
        if own is None or (own.kind, own.settle) != (inst.kind, inst.settle):
            raise TaskRefused(
                f"This task trades {symbol} as a {inst.kind.value} contract settled in "
                f"{inst.settle}, which the desk does not offer, so it cannot be played on "
                "a desk. The lesson's own steps still show it."
            )
        terms[symbol] = replace(
            own,
            maint_margin_rate=inst.maint_margin_rate,
            max_leverage=inst.max_leverage,
            taker_fee=inst.taker_fee,
            funding_rate=inst.funding_rate,
        )
    return terms


def lesson_market_terms(market: Market) -> Mapping[str, engine.Instrument]:
    """The terms a lesson's market trades under (registered with the desk's selectors)."""
    row = TaskAccount.objects.filter(account__market=market).select_related("lesson").first()
    if row is None:
        return {}
    try:
        return desk_terms(traded(row.lesson.parsed().scenario.instruments, market.symbols))
    except (TaskRefused, ScenarioFormatError):
        return {}


def _start_outcomes(
    before: engine.Account, start: engine.Account, *, new: bool
) -> list[engine.Outcome]:
    """The outcomes, applied in turn, that take an account to a task's start: its wallets
    (a deposit each on a new account, a reset on one started before: every change a ledger
    entry), then its positions and margin settings."""
    outcomes: list[engine.Outcome] = []
    state = before
    if new and all(amount > 0 for amount in start.wallets.values()):
        for currency, amount in start.wallets.items():
            outcomes.append(engine.deposit(state, currency, amount))
            state = outcomes[-1].account
    else:
        outcomes.append(engine.reset_account(state, start.wallets))
        state = outcomes[-1].account
    outcomes.append(engine.Outcome(engine.Account(state.wallets, start.positions, start.settings)))
    return outcomes


def task_open(*, learner: PaperAccount, lesson: Lesson, index: int) -> TaskAccount:
    """Set up the learner's desk for the task of step ``index``: a paper account of its
    own (a child of ``learner``) on a new lesson market that does not tick by itself, with
    the lesson's marks, wallets, positions and margin settings as the task starts. Started
    again, the same account is set back to the start on a fresh market."""
    parsed = lesson.parsed()
    if index not in parsed.tasks:
        raise LookupError(f"step {index} of {lesson.slug} has no task")
    start = task_start(parsed, index)
    terms = desk_terms(traded(start.instruments, start.market.marks))
    with transaction.atomic():
        market = Market.objects.create(
            name=f"Lesson: {lesson.title}"[:100],
            kind=Market.Kind.LESSON,
            running=False,
            volatility=Decimal(0),
            drift=Decimal(0),
            jump_intensity=Decimal(0),
            funding_enabled=False,
            symbols=sorted(terms),
        )
        MarkPrice.objects.bulk_create(
            MarkPrice(market=market, instrument_id=symbol, price=price)
            for symbol, price in start.market.marks.items()
            if symbol in terms
        )
        task = (
            TaskAccount.objects.select_for_update()
            .filter(learner=learner, lesson=lesson, step=index)
            .first()
        )
        new = task is None
        if task is None:
            account = PaperAccount.objects.create(market=market, parent=learner, label="lesson")
            task = TaskAccount.objects.create(
                account=account, learner=learner, lesson=lesson, step=index
            )
            before = engine.Account()
        else:
            account = PaperAccount.objects.select_for_update().get(pk=task.account_id)
            old_market = account.market_id
            before = desk_selectors.engine_account(account)
            account.market = market
            account.save(update_fields=["market"])
            task.hints_shown, task.started_at, task.moved_at = 0, timezone.now(), None
            task.save(update_fields=["hints_shown", "started_at", "moved_at"])
            # The last attempt's notices are history now.
            LiquidationRecord.objects.filter(account=account, acknowledged=False).update(
                acknowledged=True
            )
        prices = desk_selectors.engine_market(market)
        for outcome in _start_outcomes(before, start.account, new=new):
            outcome_save(account, before, outcome, prices)
            before = outcome.account
        if not new:
            Market.objects.filter(pk=old_market, accounts__isnull=True).delete()
        task.account = account
        return task


def task_hint(*, task: TaskAccount) -> int:
    """One more hint shown (up to the task's last); how many are shown now."""
    hints = len(lesson_task(task.lesson, task.step).hints)
    with transaction.atomic():
        row = TaskAccount.objects.select_for_update().get(pk=task.pk)
        if row.hints_shown < hints:
            row.hints_shown += 1
            row.save(update_fields=["hints_shown"])
        task.hints_shown = row.hints_shown
    return task.hints_shown


def task_state(task: TaskAccount) -> tuple[engine.Account, engine.Market]:
    """The task account as the engine sees it, on its market."""
    account = task.account
    return desk_selectors.engine_account(account), desk_selectors.engine_market(account.market)


def task_move_on(*, task: TaskAccount) -> TaskAccount:
    """Play the task's ``then`` moves on its market, one tick each, through the live
    market's own tick (so stops and liquidations happen as on any market); a funding move
    is paid as a tick pays it. Only once every goal is met, and once per start."""
    spec = lesson_task(task.lesson, task.step)
    if task.moved_at is not None:
        raise TaskRefused(
            "The market has already moved on for this task: start the task again to replay it."
        )
    state, prices = task_state(task)
    check = task_check(spec, state, prices)
    if not check.done:
        raise TaskRefused("Not yet: " + " ".join(check.missing))
    progress_task_done(account=task.learner, lesson=task.lesson, step=task.step)
    now = timezone.now()
    # Claimed once: a second press (another tab) finds it taken and plays nothing.
    if not TaskAccount.objects.filter(pk=task.pk, moved_at__isnull=True).update(moved_at=now):
        raise TaskRefused(
            "The market has already moved on for this task: start the task again to replay it."
        )
    task.moved_at = now
    market = task.account.market
    for move in task_then(spec):
        a = move.args
        if move.op == "mark":
            price = format(a["price"], "f")
            live_services.market_script(market=market, symbol=a["symbol"], moves=[f"={price}"])
            live_services.market_tick(market_id=market.pk)
        elif move.op == "funding":
            pay = functools.partial(engine.pay_funding, symbol=a["symbol"], rate=a["rate"])
            _account_move(task.account, pay)
        else:  # "realise": cross profit into the wallet, as the periodic realisation does
            _account_move(task.account, engine.realise_profit)
    return task


def _account_move(account: PaperAccount, action: desk_services.Action) -> None:
    """A ``then`` move that is not a new mark (a funding payment, a profit realisation),
    applied to the task account as a tick applies it, and saved with its ledger."""
    with transaction.atomic():
        locked = (
            PaperAccount.objects.select_for_update().select_related("market").get(pk=account.pk)
        )
        before = desk_selectors.engine_account(locked)
        prices = desk_selectors.engine_market(locked.market)
        outcome = action(before, prices)
        outcome_save(locked, before, outcome, prices, sequence=locked.market.sequence)
