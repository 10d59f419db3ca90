"""The desk's websocket: who may connect, what a connection is sent (a snapshot, then its
own figures on every tick of its own market), and that messages from the browser change
nothing.

The tests talk to ``sandbox.asgi.router`` (the application without the embedded ticker)
through Channels' communicator; ticks are applied by the test, and with the in-memory
channel layer their broadcast reaches the consumers in this process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sandbox.desk import services as desk_services
from sandbox.desk.models import LiquidationRecord, Market, PaperAccount
from sandbox.live import consumers, feed
from sandbox.live.consumers import FLOODED, REFUSED, TOO_MANY_SOCKETS
from sandbox.live.render import Viewer
from tests.live.sockets import (
    WAIT,
    D,
    asnapshot,
    atick,
    browser_cookie,
    desk_socket,
    oob,
    refused,
    section,
    socket,
)

from .conftest import (
    BUY,
    ISOLATED,
    Learner,
    Snapshot,
    account_on,
    open_position,
    quiet,
    schedule_gap,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_channel_layer"),
]


async def test_a_connection_is_sent_a_full_snapshot(learner: Learner) -> None:
    account = learner.account

    async with desk_socket(account.pk, browser_cookie(learner)) as (_, html):
        for element_id in (
            "balances",
            "positions",
            "live-status",
            "mark-display",
            "picker",
            "chart",
            "history",
            "margin-alerts",
            "liquidation-notices",
        ):
            assert oob(html, element_id), element_id
        assert '<strong id="mark-price" data-sequence="0">60,000</strong>' in html
        assert 'data-sequence="0"' in section(html, "live-status")
        balances = section(html, "balances")
        assert '<td data-figure="wallet-USDT">10,000</td>' in balances
        assert '<td data-figure="wallet-XBT">1</td>' in balances
        assert "No open positions" in section(html, "positions")

    # Connecting counts as watching: a practice market now ticks.
    market = await database_sync_to_async(Market.objects.get)(pk=account.market_id)
    assert market.last_watched is not None


async def test_a_snapshot_is_sent_for_the_symbol_in_the_address(learner: Learner) -> None:
    async with desk_socket(learner.account.pk, browser_cookie(learner), "ETHUSDT") as (_, html):
        assert '<strong id="mark-price" data-sequence="0">3,000</strong>' in html
        assert "ETHUSDT mark price" in section(html, "mark-display")


async def test_asking_for_a_snapshot_returns_a_full_one(learner: Learner) -> None:
    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, first):
        await ws.send_json_to({"type": "snapshot"})
        again = await ws.receive_from(timeout=WAIT)

    for element_id in ("balances", "positions", "live-status", "history", "liquidation-notices"):
        assert oob(again, element_id), element_id
    assert section(again, "balances") == section(first, "balances")
    assert section(again, "mark-display") == section(first, "mark-display")


# ----------------------------------------------------------------------------- ticks


@pytest.fixture
def quiet_learners(learner: Learner, other_learner: Learner) -> tuple[Learner, Learner]:
    """Two learners, each on their own quiet practice market; the first holds 0.1 XBTUSDT
    isolated 10x (liquidation 54300, bankruptcy 54000)."""
    quiet(learner.account.market)
    quiet(other_learner.account.market)
    open_position(learner.account, "XBTUSDT", BUY, "0.1", ISOLATED, "10")
    assert learner.account.market_id != other_learner.account.market_id
    return learner, other_learner


async def test_a_tick_reaches_the_learners_of_that_market_only(
    quiet_learners: tuple[Learner, Learner],
) -> None:
    learner, other = quiet_learners
    market_id = learner.account.market_id
    await database_sync_to_async(schedule_gap)(learner.account.market, "XBTUSDT", "1")

    async with (
        desk_socket(learner.account.pk, browser_cookie(learner)) as (mine, _),
        desk_socket(other.account.pk, browser_cookie(other)) as (theirs, _),
    ):
        result = await atick(market_id)
        assert result.marks["XBTUSDT"] == D("60600.0")

        update = await mine.receive_from(timeout=WAIT)

        assert '<strong id="mark-price" data-sequence="1">60,600</strong>' in update
        assert oob(update, "live-status")
        assert 'data-sequence="1"' in section(update, "live-status")
        # The learner's own figures, at the new mark: 0.1 × 600 = +60 unrealised; the
        # prices a tick does not move are sent again all the same.
        assert '<span id="pos-XBTUSDT-mark" hx-swap-oob="true">60,600</span>' in update
        assert '<span id="pos-XBTUSDT-upnl" class="gain" hx-swap-oob="true">+60</span>' in update
        assert '<span id="pos-XBTUSDT-liq" hx-swap-oob="true">54,300</span>' in update
        assert '<span id="bal-USDT-upnl" class="gain" hx-swap-oob="true">+60</span>' in update
        assert '<span id="bal-USDT-margin" hx-swap-oob="true">10,057</span>' in update
        assert '<span id="picker-XBTUSDT-mark" hx-swap-oob="true">60,600</span>' in update
        assert oob(update, "chart")
        # A tick sends figures, not whole tables; nothing changed in the alerts, notices
        # or history, so they are not sent again.
        for element_id in ("positions", "balances", "margin-alerts", "liquidation-notices"):
            assert f'id="{element_id}"' not in update
        assert 'id="history"' not in update
        assert await theirs.receive_nothing(timeout=0.2)

        # A tick of the other market reaches the other learner only.
        await atick(other.account.market_id)
        other_update = await theirs.receive_from(timeout=WAIT)
        assert '<strong id="mark-price" data-sequence="1">60,000</strong>' in other_update
        assert await mine.receive_nothing(timeout=0.2)


async def test_a_liquidation_reaches_the_learner_with_their_numbers(
    quiet_learners: tuple[Learner, Learner],
) -> None:
    learner, other = quiet_learners
    account = learner.account
    await database_sync_to_async(schedule_gap)(account.market, "XBTUSDT", "-9.5")

    async with (
        desk_socket(account.pk, browser_cookie(learner)) as (mine, first),
        desk_socket(other.account.pk, browser_cookie(other)) as (theirs, _),
    ):
        assert "notice liquidation-notice" not in section(first, "liquidation-notices")
        result = await atick(account.market_id)
        record = await database_sync_to_async(LiquidationRecord.objects.get)(account=account)
        assert result.liquidated == {account.pk: [record.pk]}

        # The tick's message names the account: the market's feed leaves this desk out of
        # the tick and sends it its news (the notice, the tables), then the rest of it.
        push = await mine.receive_from(timeout=WAIT)
        rest = await mine.receive_from(timeout=WAIT)
        assert await mine.receive_nothing(timeout=0.2)
        assert await theirs.receive_nothing(timeout=0.2)

    assert 'data-sequence="1"' in section(push, "live-status")
    notices = section(push, "liquidation-notices")
    assert oob(push, "liquidation-notices")
    assert f'id="liq-{record.pk}-title"' in notices
    assert "Liquidated: your XBTUSDT long (isolated margin)" in notices
    assert "<dd>60,000</dd>" in notices  # avg entry
    assert "<dd>600 USDT</dd>" in notices  # funds behind it
    assert "<dd>30 USDT</dd>" in notices  # maintenance margin
    assert "<dd>54,300</dd>" in notices  # liquidation price, and the mark
    assert "<dd>54,000</dd>" in notices  # bankruptcy price
    loss = re.search(r'data-figure="liquidation-loss">([^<]*)</dd>', notices)
    assert loss is not None and loss.group(1).lstrip("-") == "600 USDT"  # the margin, all of it
    assert "You lost" in notices
    assert "gained 30 USDT" in notices
    assert "No open positions" in section(push, "positions")
    assert '<td data-figure="wallet-USDT">9,397</td>' in section(push, "balances")
    # Then the history: the liquidation fill and ledger line.
    assert 'id="liquidation-notices"' not in rest
    history = section(rest, "history")
    assert "<td>liquidation</td>" in history
    assert "-600" in history
    # The slider on the ticket no longer speaks of the position: the next order uses it.
    assert oob(rest, "leverage")
    slider = section(rest, "leverage")
    assert "Your next XBTUSDT position will use" in slider
    assert "position uses" not in slider


async def test_a_margin_call_is_sent_when_it_starts(
    quiet_learners: tuple[Learner, Learner],
) -> None:
    learner, _ = quiet_learners
    account = learner.account

    async with desk_socket(account.pk, browser_cookie(learner)) as (ws, first):
        assert "data-alert" not in section(first, "margin-alerts")
        # 56400 is (56400 − 54300) / 56400 = 3.72% from liquidation: a warning (≤ 5%).
        await database_sync_to_async(schedule_gap)(account.market, "XBTUSDT", "-6")
        await atick(account.market_id)
        warned = await ws.receive_from(timeout=WAIT)
        await atick(account.market_id)  # no change: the alert is not sent again
        calm = await ws.receive_from(timeout=WAIT)

    alerts = section(warned, "margin-alerts")
    assert 'data-alert="XBTUSDT"' in alerts
    assert "Margin call warning:" in alerts
    assert "3.72%" in alerts
    assert "54,300" in alerts
    assert 'id="margin-alerts"' not in calm
    assert 'data-sequence="2"' in section(calm, "live-status")


async def test_on_a_shared_market_each_learner_gets_only_their_own_liquidation(
    quiet_learners: tuple[Learner, Learner],
) -> None:
    learner, other = quiet_learners
    market = learner.account.market
    await database_sync_to_async(PaperAccount.objects.filter(pk=other.account.pk).update)(
        market=market
    )
    await database_sync_to_async(schedule_gap)(market, "XBTUSDT", "-9.5")

    async with (
        desk_socket(learner.account.pk, browser_cookie(learner)) as (mine, _),
        desk_socket(other.account.pk, browser_cookie(other)) as (theirs, _),
    ):
        result = await atick(market.pk)
        assert list(result.liquidated) == [learner.account.pk]
        my_push = await mine.receive_from(timeout=WAIT)
        my_rest = await mine.receive_from(timeout=WAIT)  # the rest of the desk
        their_push = await theirs.receive_from(timeout=WAIT)
        assert await theirs.receive_nothing(timeout=0.2)
        assert await mine.receive_nothing(timeout=0.2)
    assert oob(my_rest, "history")

    assert "notice liquidation-notice" in section(my_push, "liquidation-notices")
    # The other learner sees the new mark, and none of the learner's figures.
    assert '<strong id="mark-price" data-sequence="1">54,300</strong>' in their_push
    assert 'id="liquidation-notices"' not in their_push
    # Without a position, no figure of theirs moves with the mark.
    assert 'id="pos-' not in their_push
    assert 'id="bal-' not in their_push


async def test_a_realisation_tick_sends_the_history(learner: Learner) -> None:
    account = learner.account

    def setup() -> None:
        quiet(account.market, speed=600)
        open_position(account, "XBTUSDT", BUY, "0.1")
        schedule_gap(account.market, "XBTUSDT", "1")

    await database_sync_to_async(setup)()

    async with desk_socket(account.pk, browser_cookie(learner)) as (ws, first):
        assert "profit realisation" not in section(first, "history")
        result = await atick(account.market_id)
        assert result.realised
        push = await ws.receive_from(timeout=WAIT)

    history = section(push, "history")
    assert oob(push, "history")
    assert "profit realisation" in history
    assert "+60" in history
    assert '<td data-figure="wallet-USDT">10,057</td>' in section(push, "balances")
    # The tick's own parts as on any tick, and the sections the realisation changed whole;
    # nothing else (the ticket, the slider, the notices) is drawn again.
    assert 'data-sequence="1"' in section(push, "live-status")
    assert oob(push, "positions")
    assert oob(push, "chart-plot") or oob(push, "chart")
    for element_id in ("ticket", "leverage", "liquidation-notices", "market"):
        assert f'id="{element_id}"' not in push, element_id


async def test_a_watching_socket_keeps_its_practice_market_ticking(learner: Learner) -> None:
    """Every fifth tick it receives, the socket says the market is still watched."""
    market_id = learner.account.market_id
    long_ago = timezone.now() - timedelta(days=1)
    set_watched = database_sync_to_async(
        lambda: Market.objects.filter(pk=market_id).update(last_watched=long_ago)
    )
    watched = database_sync_to_async(lambda: Market.objects.get(pk=market_id).last_watched)

    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, _):
        await set_watched()
        for _ in range(4):
            await atick(market_id)
            await ws.receive_from(timeout=WAIT)
        assert await watched() == long_ago
        await atick(market_id)
        await ws.receive_from(timeout=WAIT)  # the watch is written before this push
        assert await watched() > long_ago


# ---------------------------------------------------------------------- who may connect


def test_accepting_a_desk_reads_the_same_however_many_share_its_market(
    learner: Learner,
) -> None:
    """A socket's accept is a few reads of its own account (the snapshot is drawn later,
    with the other desks waiting): a class of thirty costs each the same as a class of
    one."""
    account = learner.account
    scope = {"cookies": {"sandbox_account": learner.client.cookies["sandbox_account"].value}}

    def reads() -> int:
        with CaptureQueriesContext(connection) as queries:
            market = consumers._authorise(scope, account.pk, "XBTUSDT")
        assert market is not None and market.pk == account.market_id
        return len(queries)

    reads()  # (the instruments, read once per process)
    alone = reads()
    for _ in range(30):
        account_on(account.market)
    assert reads() == alone
    assert consumers._authorise(scope, account.pk, "NOPE") is None


async def test_a_foreign_account_is_refused(learner: Learner, other_learner: Learner) -> None:
    connected, code = await refused(socket(other_learner.account.pk, browser_cookie(learner)))

    assert not connected
    assert code == 4404


async def test_a_missing_cookie_is_refused(learner: Learner) -> None:
    connected, code = await refused(socket(learner.account.pk, None))

    assert (connected, code) == (False, 4404)


@pytest.mark.parametrize(
    "forge",
    [
        lambda value: value[:-2] + ("AA" if not value.endswith("AA") else "BB"),  # signature
        lambda value: "x" + value,  # the key
        lambda value: value.split(":")[0],  # no signature at all
        lambda value: "",
    ],
    ids=["bad-signature", "changed-key", "unsigned", "empty"],
)
async def test_a_forged_cookie_is_refused(learner: Learner, forge: Callable[[str], str]) -> None:
    value = learner.client.cookies["sandbox_account"].value
    forged = forge(value)
    assert forged != value

    connected, code = await refused(socket(learner.account.pk, f"sandbox_account={forged}"))

    assert (connected, code) == (False, 4404)


async def test_a_cookie_signed_with_another_salt_is_refused(learner: Learner) -> None:
    key = learner.account.browser_key
    other_salt = signing.TimestampSigner(salt="something.else").sign(key)

    connected, _ = await refused(socket(learner.account.pk, f"sandbox_account={other_salt}"))

    assert not connected


@pytest.mark.parametrize("origin", [b"http://evil.example", b"http://localhost.evil.example", None])
async def test_a_bad_or_missing_origin_is_refused(learner: Learner, origin: bytes | None) -> None:
    communicator = socket(learner.account.pk, browser_cookie(learner), origin=origin)

    connected, _ = await refused(communicator)

    assert not connected


async def test_an_unknown_symbol_is_refused(learner: Learner) -> None:
    connected, code = await refused(socket(learner.account.pk, browser_cookie(learner), "NOPE"))

    assert (connected, code) == (False, 4404)


async def test_a_browser_account_claimed_by_a_user_is_refused_to_the_cookie(
    learner: Learner,
) -> None:
    user = await database_sync_to_async(User.objects.create_user)("ada", password="pw-123456!")
    await database_sync_to_async(PaperAccount.objects.filter(pk=learner.account.pk).update)(
        user=user
    )

    connected, _ = await refused(socket(learner.account.pk, browser_cookie(learner)))

    assert not connected


def signed_in(username: str) -> tuple[PaperAccount, str]:
    """A user with a paper account, and the session cookie of a browser signed in as them."""
    user = User.objects.create_user(username, password="pw-123456!")
    account = desk_services.account_create(user=user)
    client = Client()
    client.force_login(user)
    return account, "sessionid=" + client.cookies["sessionid"].value


async def test_a_signed_in_user_watches_their_own_account_only(seeded: None) -> None:
    mine, cookie = await database_sync_to_async(signed_in)("grace")
    theirs, _ = await database_sync_to_async(signed_in)("linus")

    async with desk_socket(mine.pk, cookie) as (_, html):
        assert oob(html, "balances")

    connected, code = await refused(socket(theirs.pk, cookie))
    assert (connected, code) == (False, 4404)


# --------------------------------------------------------------------- bad messages


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "{",
        '{"type": "order", "side": "buy", "qty": "1"}',
        '{"type": "mark", "price": "1"}',
        '{"kind": "snapshot"}',
        '["snapshot"]',
        '"snapshot"',
        "null",
        '{"type": "SNAPSHOT"}',
    ],
)
async def test_a_bad_message_is_refused_and_changes_nothing(
    quiet_learners: tuple[Learner, Learner], message: str
) -> None:
    learner, _ = quiet_learners
    account = learner.account
    before: Snapshot = await asnapshot(account.market)

    async with desk_socket(account.pk, browser_cookie(learner)) as (ws, _):
        await ws.send_to(text_data=message)
        answer = await ws.receive_from(timeout=WAIT)
        assert await ws.receive_nothing(timeout=0.2)

    assert answer == REFUSED
    assert 'id="live-problem" hx-swap-oob="true"' in answer
    assert "That message was refused" in answer
    assert await asnapshot(account.market) == before


async def test_a_binary_message_is_refused(quiet_learners: tuple[Learner, Learner]) -> None:
    learner, _ = quiet_learners
    before = await asnapshot(learner.account.market)

    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, _):
        await ws.send_to(bytes_data=b'{"type": "snapshot"}')
        answer = await ws.receive_from(timeout=WAIT)

    assert answer == REFUSED
    assert await asnapshot(learner.account.market) == before


async def test_the_socket_keeps_working_after_a_refusal(learner: Learner) -> None:
    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, _):
        await ws.send_to(text_data="junk")
        assert await ws.receive_from(timeout=WAIT) == REFUSED
        await ws.send_json_to({"type": "snapshot"})
        again = await ws.receive_from(timeout=WAIT)

    assert oob(again, "balances")


async def test_an_account_too_large_for_the_database_is_refused(learner: Learner) -> None:
    """Django finds nothing for a key beyond the database's integers (no overflow)."""
    connected, code = await refused(socket(2**63, browser_cookie(learner)))

    assert (connected, code) == (False, 4404)


async def test_a_huge_message_is_refused_unread(
    quiet_learners: tuple[Learner, Learner], monkeypatch: pytest.MonkeyPatch
) -> None:
    learner, _ = quiet_learners
    drawn = count_snapshots(monkeypatch)
    # A snapshot request, padded to a megabyte: refused by its length, never parsed.
    message = '{"type": "snapshot", "padding": "' + "x" * 1_000_000 + '"}'

    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, _):
        await ws.send_to(text_data=message)
        answer = await ws.receive_from(timeout=WAIT)

    assert answer == REFUSED
    assert drawn == [True]  # the snapshot sent on connect only


async def test_deeply_nested_json_is_refused_and_the_socket_goes_on(learner: Learner) -> None:
    # json.loads would raise RecursionError (not a ValueError) on 100,000 levels.
    nested = "[" * 100_000 + "]" * 100_000

    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, _):
        await ws.send_to(text_data=nested)
        assert await ws.receive_from(timeout=WAIT) == REFUSED
        await ws.send_to(text_data='{"type": "snapshot"}')
        again = await ws.receive_from(timeout=WAIT)

    assert oob(again, "balances")


# ------------------------------------------------------------- what one client may cost


def count_snapshots(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records every desk the feed draws whole (True for a snapshot, False for news)."""
    drawn: list[bool] = []
    draw = feed._draw_whole

    def counted(market_id: int, viewers: list[Viewer], kind: str) -> list[str | None]:
        drawn.extend(kind == feed.SNAPSHOT for _ in viewers)
        return draw(market_id, viewers, kind)

    monkeypatch.setattr(feed, "_draw_whole", counted)
    return drawn


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The consumers' clock, standing still until a test moves it (``clock[0] += s``)."""
    now = [1000.0]
    monkeypatch.setattr(consumers, "clock", lambda: now[0])
    return now


async def test_a_burst_of_snapshot_requests_is_answered_by_one_snapshot(
    learner: Learner, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers, "SNAPSHOT_INTERVAL", 0.3)
    drawn = count_snapshots(monkeypatch)

    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, first):
        for _ in range(10):
            await ws.send_json_to({"type": "snapshot"})
        again = await ws.receive_from(timeout=WAIT)
        assert await ws.receive_nothing(timeout=0.6)
        assert drawn == [True, True]  # on connect, then one for the ten requests

        # A request once the interval has passed is answered on its own.
        clock[0] += 1
        await ws.send_json_to({"type": "snapshot"})
        later = await ws.receive_from(timeout=WAIT)

    assert drawn == [True, True, True]
    for html in (again, later):
        assert oob(html, "balances")
        assert section(html, "balances") == section(first, "balances")


async def test_a_socket_that_floods_is_told_and_closed(
    learner: Learner, clock: list[float]
) -> None:
    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, _):
        for _ in range(21):
            await ws.send_to(text_data="junk")
        answers = [await ws.receive_from(timeout=WAIT) for _ in range(21)]
        closed = await ws.receive_output(timeout=WAIT)
        await ws.send_to(text_data="junk")  # after the close: dropped unread
        assert await ws.receive_nothing(timeout=0.2)
        # The socket let go of everything at once, before the client said goodbye.
        assert consumers.open_sockets(f"account:{learner.account.pk}") == 0
        assert feed.serving(learner.account.market_id) == 0

    assert answers[:20] == [REFUSED] * 20
    assert answers[20] == FLOODED
    assert 'id="request-problem" hx-swap-oob="true"' in FLOODED
    assert "too many messages" in FLOODED
    assert closed == {"type": "websocket.close", "code": 4429, "reason": "Too many messages"}


async def test_messages_spread_over_time_are_not_a_flood(
    learner: Learner, clock: list[float]
) -> None:
    answers = []
    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, _):
        for _ in range(3):  # 20 messages every 10 seconds
            for _ in range(20):
                await ws.send_to(text_data="junk")
            answers += [await ws.receive_from(timeout=WAIT) for _ in range(20)]
            clock[0] += 10
        assert await ws.receive_nothing(timeout=0.2)

    assert answers == [REFUSED] * 60


async def test_an_account_may_hold_eight_sockets_open(learner: Learner) -> None:
    cookie = browser_cookie(learner)
    async with AsyncExitStack() as stack:
        open_ = [
            await stack.enter_async_context(desk_socket(learner.account.pk, cookie))
            for _ in range(8)
        ]
        assert consumers.open_sockets(f"account:{learner.account.pk}") == 8

        ninth = socket(learner.account.pk, cookie)
        assert await ninth.connect(timeout=WAIT) == (True, None)
        notice = await ninth.receive_from(timeout=WAIT)
        closed = await ninth.receive_output(timeout=WAIT)
        await ninth.disconnect()

        # Closing a tab frees its place.
        await open_[0][0].disconnect()
        async with desk_socket(learner.account.pk, cookie) as (_, html):
            assert oob(html, "balances")

    assert notice == TOO_MANY_SOCKETS
    assert 'id="request-problem" hx-swap-oob="true"' in notice
    assert "Too many open desks for this account: close another tab" in notice
    assert closed == {"type": "websocket.close", "code": 4429, "reason": "Too many open desks"}
    assert consumers.open_sockets(f"account:{learner.account.pk}") == 0


async def test_another_accounts_sockets_do_not_count(
    learner: Learner, other_learner: Learner
) -> None:
    async with AsyncExitStack() as stack:
        for _ in range(8):
            await stack.enter_async_context(
                desk_socket(learner.account.pk, browser_cookie(learner))
            )
        async with desk_socket(other_learner.account.pk, browser_cookie(other_learner)) as (
            _,
            html,
        ):
            assert oob(html, "balances")


# ------------------------------------------------------------- the channel layer goes away


class LayerAway(Exception):
    """What channels-redis raises when Redis does not answer (a connection error)."""


async def test_a_desk_opened_while_the_channel_layer_is_away_is_told_to_retry(
    learner: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def away(*args: object) -> None:
        raise LayerAway("Redis is not answering")

    monkeypatch.setattr(get_channel_layer(), "group_add", away)
    communicator = socket(learner.account.pk, browser_cookie(learner))
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected  # accepted, then closed with a code the browser retries after
    closed = await communicator.receive_output(timeout=WAIT)

    assert closed == {"type": "websocket.close", "code": 1013, "reason": "Live updates unavailable"}
    assert consumers.open_sockets(f"account:{learner.account.pk}") == 0


async def test_a_desk_closed_while_the_channel_layer_is_away_leaves_its_feed(
    learner: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    market_id = learner.account.market_id
    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (ws, _):
        assert feed.serving(market_id) == 1

        async def away(*args: object) -> None:
            raise LayerAway("Redis is not answering")

        monkeypatch.setattr(get_channel_layer(), "group_discard", away)
    # Without leaving its feed, the practice market would be watched (and tick) for good.
    assert feed.serving(market_id) == 0
