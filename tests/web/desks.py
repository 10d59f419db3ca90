"""Reading the desk as the tests see it: its sections, figures and tables in an answer, an
account's state, and the usual set-ups (shared by the web tests)."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from typing import Any

from sandbox.desk.models import (
    Fill,
    InsuranceFund,
    LedgerEntry,
    MarginSettingRow,
    MarkPrice,
    PaperAccount,
    Position,
    Wallet,
)
from tests.web.conftest import Learner

D = Decimal
ALL_SECTIONS = ["market", "leverage", "ticket", "balances", "positions", "history"]
# An order redraws the ticket, and with it the leverage control it holds.
ON_THE_TICKET = {"leverage"}
CROSS_NOTE = "Cross uses your whole available balance, so there is no margin to add."

# ---------------------------------------------------------------------------------------
# Helpers shared with the other desk test modules.
# ---------------------------------------------------------------------------------------

# The desk's sections, and the leverage control (a section of its own in the answers that
# redraw only it, part of the ticket otherwise).
_SECTION = re.compile(
    r'<section id="(?P<id>[\w-]+)"(?P<attrs>[^>]*)>|<div id="(?P<slider>leverage)"(?P<more>[^>]*)>'
)
_FIGURE = re.compile(r'data-figure="(?P<name>[^"]+)">(?:<span[^>]*>)?(?P<value>[^<]*)<')


def page(response: Any) -> str:
    """The response body with HTML entities decoded and runs of whitespace made one space,
    for matching sentences."""
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


def sections(response: Any) -> list[tuple[str, bool]]:
    """The top-level sections of a response, in order, and whether each is out of band
    (the leverage control inside the ticket is part of the ticket)."""
    body = response.content.decode()
    found = []
    ticket_end = -1
    for m in _SECTION.finditer(body):
        name, attrs = (m["id"], m["attrs"]) if m["id"] else (m["slider"], m["more"])
        if name == "ticket":
            ticket_end = body.find("</section>", m.end())
        elif m.start() < ticket_end:
            continue
        found.append((name, 'hx-swap-oob="true"' in attrs))
    return found


def figures(response: Any) -> dict[str, str]:
    """Every ``data-figure`` cell of a response: name → displayed text."""
    return {
        m["name"]: html.unescape(m["value"]).strip()
        for m in _FIGURE.finditer(response.content.decode())
    }


def mark_price(response: Any) -> str:
    """The big mark price of the desk's instrument."""
    found = re.search(r'<strong id="mark-price"[^>]*>([^<]*)</strong>', page(response))
    assert found, "no mark price in the response"
    return found[1].strip()


def answers(response: Any, main: str) -> None:
    """An action answered with its own section in place and the other desk sections out
    of band; the ticket, which keeps what the learner typed, only when it acted."""
    found = sections(response)
    assert found[0] == (main, False), found
    assert all(oob for _, oob in found[1:]), found
    names = [name for name, _ in found[1:]]
    assert main not in names
    # An order, a close or a margin change leaves the market section as it was.
    unchanged = {"market"} if main in ("ticket", "positions") else set()
    others = set(ALL_SECTIONS) - {main, "ticket"} - unchanged
    if main == "ticket":
        others -= ON_THE_TICKET
    assert others <= set(names), found
    assert "ticket" not in names, found
    assert not unchanged & set(names), found


def figure_of(response: Any, name: str) -> str:
    found = figures(response)
    assert name in found, f"no data-figure={name!r} in the response; found {sorted(found)}"
    return found[name]


def table_rows(response: Any, label: str) -> list[list[str]]:
    """The cells of each body row of the table in the region labelled ``label``."""
    body = response.content.decode()
    start = body.index(f'aria-label="{label}"')
    tbody = body[body.index("<tbody>", start) : body.index("</tbody>", start)]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", tbody, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


def ledger_rows(response: Any) -> list[list[str]]:
    """Ledger rows without the time: [currency, amount, reason, symbol, balance after]."""
    return [row[1:] for row in table_rows(response, "Ledger")]


def fill_rows(response: Any) -> list[list[str]]:
    """Fill rows without the time: [symbol, side, qty, price, value, fee, pnl, kind]."""
    return [row[1:] for row in table_rows(response, "Fills")]


def snapshot(account: PaperAccount) -> dict[str, Any]:
    """Everything an action could change on an account and its practice market."""
    return {
        "wallets": dict(Wallet.objects.filter(account=account).values_list("currency", "balance")),
        "positions": list(
            Position.objects.filter(account=account)
            .order_by("instrument_id")
            .values_list(
                "instrument_id",
                "qty",
                "cost_value",
                "entry_value",
                "mode",
                "leverage",
                "position_margin",
                "realised_pnl",
            )
        ),
        "settings": list(
            MarginSettingRow.objects.filter(account=account)
            .order_by("instrument_id")
            .values_list("instrument_id", "mode", "leverage")
        ),
        "marks": dict(
            MarkPrice.objects.filter(market_id=account.market_id).values_list(
                "instrument_id", "price"
            )
        ),
        "insurance": dict(
            InsuranceFund.objects.filter(market_id=account.market_id).values_list(
                "currency", "balance"
            )
        ),
        "ledger": LedgerEntry.objects.filter(account=account).count(),
        "fills": Fill.objects.filter(account=account).count(),
    }


def wallet(account: PaperAccount, currency: str = "USDT") -> Decimal:
    balance: Decimal = Wallet.objects.get(account=account, currency=currency).balance
    return balance


def follow(learner: Learner, response: Any) -> Any:
    """A plain post answered with a redirect to the desk: load the desk it names."""
    assert response.status_code == 302, response.status_code
    return learner.client.get(response["Location"])


def isolated_long(learner: Learner, stop: int = 10, qty: str = "1") -> None:
    """Choose isolated ``stop``x and buy ``qty`` XBTUSDT at the starting mark 60,000."""
    assert learner.post("leverage_apply", {"stop": str(stop)}).status_code == 302
    assert learner.post("order_submit", {"side": "buy", "qty": qty}).status_code == 302


def desk_url(account: PaperAccount, symbol: str = "XBTUSDT") -> str:
    return f"/desk/{account.pk}/{symbol}/"


# ---------------------------------------------------------------------------------------
# Arriving: "/" gives the browser an account, remembered by a signed cookie.
# ---------------------------------------------------------------------------------------
