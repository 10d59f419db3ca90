"""Lessons with a task, for the tests of the task desk (shared helpers, not tests).

A 20x isolated XBTUSDT long: 0.04 at 50,000 with 100 USDT of margin, liquidation price
47,750. The task (step 3): add margin until the liquidation price is below 47,000 (more
than 30 USDT); ``then`` is the market after it.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.lessons.models import Lesson

TASK_STEP = 3  # 0-based
SURVIVED = [{"symbol": "XBTUSDT", "price": "48000"}, {"symbol": "XBTUSDT", "price": "47100"}]
CRASH = [{"symbol": "XBTUSDT", "price": "48000"}, {"symbol": "XBTUSDT", "price": "46000"}]
HINTS = ["Open the position's Margin dialog.", "Each 10 USDT moves it down 250."]


def task_lesson_source(then: list[dict[str, Any]], instrument: str = "XBTUSDT") -> str:
    steps: list[dict[str, Any]] = [
        {"op": "deposit", "currency": "USDT", "amount": "1000"},
        {"op": "mark", "symbol": instrument, "price": "50000"},
        {"op": "leverage", "symbol": instrument, "mode": "isolated", "leverage": "20"},
        {
            "op": "order",
            "symbol": instrument,
            "side": "buy",
            "qty": "0.04",
            "task": {
                "prompt": "Add margin until your liquidation price is below 47,000.",
                "goals": [
                    {"figure": f"positions.{instrument}.liquidation_price", "below": "47000"}
                ],
                "hints": HINTS,
                "solution": [{"op": "add_margin", "symbol": instrument, "amount": "50"}],
                "then": then,
                "explanation": "Margin you add pushes the liquidation price away.",
            },
        },
        {"op": "mark", "symbol": instrument, "price": "49000", "note": "After the task."},
    ]
    lesson = {
        "name": "Task lesson",
        "lesson": {"title": f"Add margin ({len(then)} moves)"},
        "instruments": {
            instrument: {
                "kind": "linear",
                "settle": "USDT",
                "maint_margin_rate": "0.005",
                "max_leverage": "100",
                "taker_fee": "0",
                "qty_step": "0.001",
            }
        },
        "steps": steps,
    }
    return json.dumps(lesson, indent=1)


def task_lesson(slug: str, then: list[dict[str, Any]] = SURVIVED, **kwargs: Any) -> Lesson:
    source = task_lesson_source(then, **kwargs)
    return Lesson.objects.create(slug=slug, title=slug, source=source)
