"""Whether the page's live updates can reach it now (for the "retrying" notice)."""

from __future__ import annotations

from django import template

from sandbox.desk.broadcast import live_updates_available

register = template.Library()


@register.simple_tag
def live_updates() -> bool:
    """``{% live_updates as live_ok %}``: False while the channel layer (Redis) is away."""
    return live_updates_available()
