"""The desk's screen: imports run one way (desk <- live <- classroom, lessons), the table
of which event redraws which section, and the parts the other apps plug in."""

from __future__ import annotations

import ast
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from sandbox.desk import screen, seeding
from sandbox.desk.screen import PARTIALS, REDRAWS, Event, answer_parts, redraws

ROOT = Path(__file__).resolve().parents[2] / "sandbox"
APPS = ("desk", "live", "classroom", "lessons")


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, as absolute names (relative ones resolved)."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def test_the_desk_imports_nothing_of_the_apps_built_on_it() -> None:
    found = [
        (str(path.relative_to(ROOT)), name)
        for path in sorted((ROOT / "desk").rglob("*.py"))
        for name in _imports(path)
        if name.startswith(("sandbox.live", "sandbox.classroom", "sandbox.lessons"))
    ]
    assert found == []


def test_the_live_app_imports_nothing_of_the_classroom_or_lessons() -> None:
    found = [
        (str(path.relative_to(ROOT)), name)
        for path in sorted((ROOT / "live").rglob("*.py"))
        for name in _imports(path)
        if name.startswith(("sandbox.classroom", "sandbox.lessons"))
    ]
    assert found == []


def test_no_module_imports_another_apps_views() -> None:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            for name in _imports(path):
                parts = name.split(".")
                if "views" in parts[2:3] and parts[1] in APPS and parts[1] != app:
                    found.append((str(path.relative_to(ROOT)), name))
    assert found == []


def test_the_import_walk_sees_relative_and_absolute_imports() -> None:
    """The walk itself: a relative import out of the desk is named as the app it reaches."""
    module = ROOT / "desk" / "management" / "commands" / "seed_sandbox.py"
    assert "sandbox.desk.seeding" in _imports(module)
    assert "sandbox.desk.services.instruments_seed" in _imports(module)
    views = ROOT / "live" / "views.py"
    assert "sandbox.live.services" in _imports(views)  # from . import services


# ---------------------------------------------------------------- which event redraws what


def test_every_section_an_event_redraws_has_one_partial() -> None:
    pseudo = {screen.FIGURES, screen.PICKER_MARKS, screen.PANELS}
    for event, names in REDRAWS.items():
        assert names, event
        assert set(names) <= set(PARTIALS) | pseudo, event
        assert len(set(names)) == len(names), event


def test_an_action_answers_first_in_the_section_that_sent_it() -> None:
    assert answer_parts(Event.ORDER, ok=True) == [
        ("desk/desk.html#ticket", False),  # with the leverage control it holds
        ("desk/desk.html#balances", True),
        ("desk/desk.html#positions", True),
        ("desk/desk.html#history", True),
    ]
    # Added to an open position: the slider's mode and leverage stand.
    assert "desk/desk.html#leverage" not in dict(answer_parts(Event.ORDER_KEPT, ok=True))
    # Refused: only the section that sent it.
    assert answer_parts(Event.MARK_SET, ok=False) == [("desk/desk.html#market", False)]
    assert answer_parts(Event.CLOCK, ok=True)[0] == ("desk/desk.html#market", False)
    assert answer_parts(Event.MARGIN, ok=True)[0] == ("desk/desk.html#positions", False)


def test_the_ticket_and_the_triggers_keep_what_was_typed_unless_they_acted() -> None:
    for event, names in REDRAWS.items():
        if event in (Event.RESET, Event.TWINS):
            continue
        for kept in ("ticket", "triggers"):
            assert kept not in names[1:], (event, kept)


def test_the_live_pushes_redraw_by_the_table() -> None:
    tick = redraws(Event.TICK)
    assert screen.FIGURES in tick and "balances" not in tick and "history" not in tick
    realisation = redraws(Event.REALISATION)
    assert {"balances", "positions", "history"} <= set(realisation)
    assert screen.FIGURES not in realisation
    # A teacher's action: the market's line and the panels, no account's figures.
    assert redraws(Event.TEACHER) == ["status", screen.PANELS]
    for event in (Event.OWN, Event.SNAPSHOT):
        assert {"balances", "positions", "chart", screen.PANELS} <= set(REDRAWS[event])
    # The news first: its notice and the tables it changed, then the rest of the desk.
    news = set(REDRAWS[Event.NEWS])
    assert {"balances", "positions", "liquidations", "alerts"} <= news < set(REDRAWS[Event.OWN])
    assert not news & {"chart", "history", "leverage", screen.PANELS}


# ---------------------------------------------------------------- what other apps plug in


def test_the_live_layer_and_the_room_panel_are_plugged_in() -> None:
    from sandbox.classroom.panel import RoomPanel
    from sandbox.live.render import live_layer

    assert live_layer in screen.layers()
    assert any(isinstance(panel, RoomPanel) for panel in screen._panels)
    # Registering again (a second ready()) adds nothing.
    screen.register_layer(live_layer)
    screen.register_panel(RoomPanel())
    assert list(screen.layers()).count(live_layer) == 1
    assert sum(isinstance(panel, RoomPanel) for panel in screen._panels) == 1


def test_the_lessons_app_registers_its_seed() -> None:
    assert "lessons" in [label for label, _ in seeding.seeders()]


@pytest.mark.django_db
def test_seed_sandbox_loads_the_instruments_and_the_lessons() -> None:
    from sandbox.desk.models import Instrument
    from sandbox.lessons.models import Lesson

    out = StringIO()
    call_command("seed_sandbox", stdout=out)
    assert Instrument.objects.exists()
    lessons = Lesson.objects.count()
    assert lessons > 0
    assert out.getvalue().strip().endswith(f"and {lessons} lessons ready.")
