"""The lesson player, the list of lessons, and uploading a lesson (teachers only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandbox.desk.answers import HtmxHttpRequest
from sandbox.desk.forms import MAX_PRICE, ExactDecimalField
from sandbox.desk.roles import is_teacher, teacher_required
from sandbox.engine.lessons import Frame, answer_question, frame
from sandbox.engine.money import MONEY_PLACES
from sandbox.limits import size_text
from sandbox.live.chart import build_chart, position_lines

from .models import Lesson
from .services import MAX_UPLOAD_BYTES, UploadRefused, lesson_upload, too_large_message


class AnswerForm(forms.Form):
    answer = ExactDecimalField(noun="answer", places=MONEY_PLACES, maximum=MAX_PRICE, example="510")


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


@require_GET
def lesson_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "lessons/list.html",
        {"lessons": Lesson.objects.all(), "teacher": is_teacher(request.user)},
    )


def _chart(current: Frame) -> Any:
    """The mark path of the symbol the step is about, with its position's prices."""
    if not current.marks:
        return None, None
    symbol = current.step.args.get("symbol") or current.marks[-1][1]
    points = [(index, price) for index, sym, price in current.marks if sym == symbol]
    if not points:
        symbol = current.marks[-1][1]
        points = [(index, price) for index, sym, price in current.marks if sym == symbol]
    position = current.record.figures.positions.get(symbol)
    lines = position_lines(position)
    # The lesson's steps so far, from the first at the left edge (not a live window).
    return symbol, build_chart(points, lines, span=None, unit="step")


def _player_context(lesson: Lesson, number: int, **extra: Any) -> dict[str, Any]:
    parsed = lesson.parsed()
    if not 1 <= number <= parsed.steps:
        raise Http404("No such step in this lesson.")
    current = frame(parsed, number - 1)
    symbol, chart = _chart(current)
    context: dict[str, Any] = {
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
        "answer_form": AnswerForm(),
    }
    context.update(extra)
    return context


@require_GET
def lesson_step(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    lesson = get_object_or_404(Lesson, slug=slug)
    context = _player_context(lesson, number)
    template = "lessons/player.html#player" if request.htmx else "lessons/player.html"
    return render(request, template, context)


@require_POST
def lesson_answer(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """Check an answer with the engine and show the worked answer."""
    lesson = get_object_or_404(Lesson, slug=slug)
    parsed = lesson.parsed()
    if number - 1 not in parsed.questions:
        raise Http404("This step asks no question.")
    form = AnswerForm(request.POST)
    result = None
    if form.is_valid():
        result = answer_question(parsed, number - 1, form.cleaned_data["answer"])
    context = _player_context(lesson, number, answer_form=form, answer=result)
    template = "lessons/player.html#question" if request.htmx else "lessons/player.html"
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
