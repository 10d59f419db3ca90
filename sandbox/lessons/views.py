"""The lesson player, the list of lessons, and uploading a lesson (teachers only)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandbox.desk import accounts
from sandbox.desk.answers import HtmxHttpRequest
from sandbox.desk.models import PaperAccount
from sandbox.desk.roles import is_teacher, teacher_required
from sandbox.engine import display
from sandbox.engine.lessons import Frame, answer_question, frame
from sandbox.engine.lessons import Lesson as EngineLesson
from sandbox.limits import size_text
from sandbox.live.chart import build_chart, position_lines

from . import selectors
from .desk_panel import PARTIAL, TaskPanel
from .models import Lesson, LessonProgress, TaskAccount
from .services import (
    MAX_UPLOAD_BYTES,
    TaskRefused,
    UploadRefused,
    lesson_upload,
    progress_answer,
    progress_step_seen,
    task_hint,
    task_move_on,
    task_open,
    too_large_message,
)


class AnswerField(forms.CharField):
    """An answer typed as the app prints its figures (44,250, 16 420, −3.5, 4 XBT): read by
    :func:`sandbox.engine.display.read_number`, which says how to write anything else."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", display.MAX_NUMBER_TEXT)
        kwargs.setdefault(
            "error_messages",
            {
                "required": "Enter your answer as a number, like 44,250.5.",
                "max_length": f"That is too long to be an answer: at most "
                f"{display.MAX_NUMBER_TEXT} characters.",
            },
        )
        super().__init__(**kwargs)
        self.units: tuple[str, ...] = ()

    def clean(self, value: Any) -> Decimal:
        text = super().clean(value)
        try:
            return display.read_number(text, self.units)
        except display.NumberTextError as problem:
            raise forms.ValidationError(problem.message) from None


class AnswerForm(forms.Form):
    answer = AnswerField(label="Your answer")

    def __init__(self, *args: Any, units: tuple[str, ...] = (), **kwargs: Any) -> None:
        """``units``: the currencies an answer may be followed by (``4 XBT``)."""
        super().__init__(*args, **kwargs)
        field = self.fields["answer"]
        assert isinstance(field, AnswerField)
        field.units = units


def answer_units(parsed: EngineLesson) -> tuple[str, ...]:
    """The lesson's currencies, which an answer may name after its number."""
    return tuple(sorted({inst.settle for inst in parsed.scenario.instruments.values()}))


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Lesson file (JSON)",
        error_messages={"required": "Choose a lesson file to upload."},
    )

    def clean_file(self) -> UploadedFile[bytes]:
        """The file's size is checked before it is read."""
        upload: UploadedFile[bytes] = self.cleaned_data["file"]
        if upload.size is None or upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(too_large_message())
        return upload


# ------------------------------------------------------------------------------ the learner

ACCOUNT_ID = re.compile(r"[0-9]{1,18}")


def lesson_learner(request: HttpRequest, *, create: bool = False) -> PaperAccount | None:
    """The paper account a lesson is played as: ``?account=<id>`` when this browser owns
    that account (a room's account, say; 404 otherwise), else the learner's own account.
    A browser that never visited the desk gets one only when ``create`` (it acts)."""
    raw = request.GET.get("account", "")
    if raw:
        if not ACCOUNT_ID.fullmatch(raw):
            raise Http404("No such paper account.")
        account = accounts.get_account_for_request(request, int(raw))
        if account.parent_id is not None:  # a side-by-side twin or a lesson's own desk
            raise Http404("A lesson is played as the learner's own account.")
        return account
    if create or request.user.is_authenticated or accounts.COOKIE in request.COOKIES:
        return accounts.current_account(request)
    return None


def account_query(request: HttpRequest) -> str:
    """The player's ``?account=`` kept on its links and forms ("" for the own account)."""
    raw = request.GET.get("account", "")
    return "?" + urlencode({"account": raw}) if raw else ""


def keep_learner(request: HttpRequest, response: HttpResponse, learner: PaperAccount) -> None:
    """A browser's own account, made on its first visit, is remembered by its cookie."""
    if not request.user.is_authenticated and not request.GET.get("account"):
        accounts.remember(response, learner)


@require_GET
def lesson_list(request: HttpRequest) -> HttpResponse:
    lessons = list(Lesson.objects.all())
    learner = lesson_learner(request)
    progress = selectors.lessons_progress(learner, lessons)
    context = {
        "lessons": [(lesson, progress.get(lesson.pk)) for lesson in lessons],
        "teacher": is_teacher(request.user),
        "account_query": account_query(request),
    }
    response = render(request, "lessons/list.html", context)
    if learner is not None:
        keep_learner(request, response, learner)
    return response


# The chart line of each position figure a question may ask for.
CHART_LINES = {
    "avg_entry_price": "entry",
    "liquidation_price": "liquidation",
    "bankruptcy_price": "bankruptcy",
}


def _chart(current: Frame, hidden: tuple[str, ...] = ()) -> Any:
    """The mark path of the symbol the step is about, with its position's prices (less
    the line of a figure hidden until its question is answered)."""
    if not current.marks:
        return None, None
    symbol = current.step.args.get("symbol") or current.marks[-1][1]
    points = [(index, price) for index, sym, price in current.marks if sym == symbol]
    if not points:
        symbol = current.marks[-1][1]
        points = [(index, price) for index, sym, price in current.marks if sym == symbol]
    position = current.record.figures.positions.get(symbol)
    off = {CHART_LINES.get(path.rpartition(".")[2]) for path in hidden}
    lines = [line for line in position_lines(position) if line[0] not in off]
    # The lesson's steps so far, from the first at the left edge (not a live window).
    return symbol, build_chart(points, lines, span=None, unit="step")


def _player_context(
    lesson: Lesson, number: int, *, answered: bool = False, **extra: Any
) -> dict[str, Any]:
    """The player at step ``number``. Until its question is ``answered``, the figures that
    would show the answer (and narration stating it) are hidden (Frame.hidden)."""
    parsed = lesson.parsed()
    if not 1 <= number <= parsed.steps:
        raise Http404("No such step in this lesson.")
    current = frame(parsed, number - 1)
    hidden = () if answered else current.hidden
    symbol, chart = _chart(current, hidden)
    context: dict[str, Any] = {
        "hidden": hidden,
        "hide_note": not answered and current.note_states_answer,
        "hide_positions": any(path.startswith("positions.") for path in hidden),
        "hide_balances": any(path.startswith(("balances.", "insurance_fund")) for path in hidden),
        "lesson": lesson,
        "parsed": parsed,
        "frame": current,
        "number": number,
        "total": parsed.steps,
        "record": current.record,
        "balances": list(current.record.figures.balances.values()),
        "positions": list(current.record.figures.positions.values()),
        "chart": chart,
        "instrument": {"symbol": symbol or ""},
        "position": symbol and current.record.figures.positions.get(symbol),
        "answer_form": AnswerForm(units=answer_units(parsed)),
    }
    context.update(extra)
    return context


def _answered(learner: PaperAccount | None, lesson: Lesson, index: int) -> bool:
    """Whether the learner has answered the question of step ``index`` (rightly or not)."""
    if learner is None or index not in lesson.parsed().questions:
        return False
    questions = (
        LessonProgress.objects.filter(account=learner, lesson=lesson)
        .values_list("questions", flat=True)
        .first()
    )
    return isinstance(questions, dict) and str(index) in questions


@require_GET
def lesson_step(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """A step of the lesson, recorded as seen for the learner; step 0 goes on from the
    furthest step the learner saw."""
    lesson = get_object_or_404(Lesson, slug=slug)
    learner = lesson_learner(request)
    if number == 0:
        furthest = selectors.furthest_step(learner, lesson) + 1
        url = reverse("lesson_step", kwargs={"slug": slug, "number": furthest})
        return redirect(url + account_query(request))
    context = _player_context(
        lesson,
        number,
        answered=_answered(learner, lesson, number - 1),
        account_query=account_query(request),
    )
    if learner is not None and number - 1 in lesson.parsed().tasks:
        row = (
            TaskAccount.objects.select_related("lesson", "account__market")
            .filter(learner=learner, lesson=lesson, step=number - 1)
            .first()
        )
        if row is not None:
            context.update(task_row=row, task_desk=_desk_url(row))
    template = "lessons/player.html#player" if request.htmx else "lessons/player.html"
    response = render(request, template, context)
    if learner is not None:
        progress_step_seen(account=learner, lesson=lesson, index=number - 1)
        keep_learner(request, response, learner)
    return response


@require_POST
def lesson_answer(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """Check an answer with the engine and show the worked answer. Answered, the step's
    figures hidden until then are shown (in place, for htmx)."""
    lesson = get_object_or_404(Lesson, slug=slug)
    parsed = lesson.parsed()
    if number - 1 not in parsed.questions:
        raise Http404("This step asks no question.")
    form = AnswerForm(request.POST, units=answer_units(parsed))
    result = None
    if form.is_valid():
        result = answer_question(parsed, number - 1, form.cleaned_data["answer"])
    learner = lesson_learner(request)
    if result is not None and learner is not None:
        progress_answer(account=learner, lesson=lesson, step=number - 1, correct=result.correct)
    answered = result is not None or _answered(learner, lesson, number - 1)
    context = _player_context(
        lesson,
        number,
        answered=answered,
        answer_form=form,
        answer=result,
        account_query=account_query(request),
    )
    current: Frame = context["frame"]
    reveal = answered and bool(current.hidden or current.note_states_answer)
    template = "lessons/player.html"
    if request.htmx:
        template += "#answered" if reveal else "#question"
    return render(request, template, context, status=200 if result or request.htmx else 400)


@teacher_required
@require_http_methods(["GET", "POST"])
def lesson_upload_view(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"].read()
        try:
            uploaded = lesson_upload(data=data, user=request.user)  # type: ignore[arg-type]
        except UploadRefused as refusal:
            errors = refusal.errors
        else:
            messages.success(request, f"Lesson “{uploaded.lesson.title}” uploaded.")
            for warning in uploaded.warnings:
                messages.warning(request, warning)
            return redirect("lesson_step", slug=uploaded.lesson.slug, number=1)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "errors": errors, "largest": size_text(MAX_UPLOAD_BYTES)}
    return render(request, "lessons/upload.html", context, status=status)


# ------------------------------------------------------------------------------ tasks


def _task_row(request: HttpRequest, account_id: int) -> TaskAccount:
    """The lesson task played on this account, if this browser owns it (404 otherwise)."""
    account = accounts.get_account_for_request(request, account_id)
    row = (
        TaskAccount.objects.select_related("lesson", "learner", "account__market")
        .filter(account=account)
        .first()
    )
    if row is None:
        raise Http404("This account plays no lesson task.")
    if selectors.task_of(row) is None:
        raise Http404("This lesson no longer has that task.")
    return row


def _desk_url(row: TaskAccount) -> str:
    """The task's desk, on the instrument the task is about."""
    symbol = row.lesson.parsed().tasks[row.step].symbol
    if not symbol or symbol not in row.account.market.symbols:
        symbol = sorted(row.account.market.symbols or [settings.SANDBOX_DEFAULT_SYMBOL])[0]
    return reverse("desk", kwargs={"account_id": row.account_id, "symbol": symbol})


@require_POST
def task_open_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """ "Do it on your desk": the task's desk set up (or set back) at its start."""
    lesson = get_object_or_404(Lesson, slug=slug)
    if number - 1 not in lesson.parsed().tasks:
        raise Http404("This step has no task.")
    learner = lesson_learner(request, create=True)
    assert learner is not None
    try:
        row = task_open(learner=learner, lesson=lesson, index=number - 1)
    except TaskRefused as refusal:
        messages.error(request, refusal.message)
        url = reverse("lesson_step", kwargs={"slug": slug, "number": number})
        response = redirect(url + account_query(request))
    else:
        prompt = lesson.parsed().tasks[number - 1].prompt
        messages.info(
            request,
            f"Lesson task: {prompt} This desk is yours for the task: use its controls; the "
            "task panel says which goals are met.",
        )
        response = redirect(_desk_url(row) + "#task-panel")
    keep_learner(request, response, learner)
    return response


def _panel(request: HttpRequest, row: TaskAccount, **extra: Any) -> HttpResponse:
    shown = TaskPanel().load(row.account.market, [row.account_id], fresh=True)
    if row.account_id not in shown:
        raise Http404("This lesson no longer has that task.")
    context = {"account": row.account, **shown[row.account_id].context, **extra}
    return render(request, PARTIAL, context)


@require_GET
def task_panel(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    """The task panel alone, redrawn after each action on the desk (htmx)."""
    return _panel(request, _task_row(request, account_id))


@require_POST
def task_hint_view(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    """The next hint: in the panel (htmx), or on the desk again (a plain post)."""
    row = _task_row(request, account_id)
    task_hint(task=row)
    if request.htmx:
        return _panel(request, row, hint_added=True)
    return redirect(_desk_url(row) + "#task-panel")


@require_POST
def task_move_on_view(request: HttpRequest, account_id: int) -> HttpResponse:
    """Let the market move on: the task's scripted prices, one tick each; the desk shows
    what they did."""
    row = _task_row(request, account_id)
    try:
        task_move_on(task=row)
    except TaskRefused as refusal:
        messages.error(request, refusal.message)
    else:
        messages.info(request, "The market moved on: see what it did in the task panel.")
    return redirect(_desk_url(row) + "#task-panel")
