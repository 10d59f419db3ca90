"""History rows, rendered once: a fill or a ledger entry never changes once written, and
the desk shows the latest ones again after every action."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django import template
from django.template.loader import get_template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

KEPT = 20_000  # rows kept per process (a few MB), the least recently shown forgotten first
_rows: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_lock = threading.Lock()
PARTIALS = {"fill": ("desk/desk.html#fill_row", "f"), "ledger": ("desk/desk.html#ledger_row", "e")}


@register.simple_tag
def history_row(kind: str, row: Any) -> SafeString:
    """The table row of a fill (``kind`` "fill") or a ledger entry ("ledger")."""
    key = (kind, row.pk, row.created_at, timezone.get_current_timezone_name())
    with _lock:
        html = _rows.get(key)
        if html is not None:
            _rows.move_to_end(key)
            return mark_safe(html)
    name, variable = PARTIALS[kind]
    html = get_template(name).render({variable: row})
    with _lock:
        _rows[key] = html
        while len(_rows) > KEPT:
            _rows.popitem(last=False)
    return mark_safe(html)
