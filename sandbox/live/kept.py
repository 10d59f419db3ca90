"""A market's accounts kept in memory between ticks, by the process that ticks it.

A realisation or funding tick computes every account of its market that holds a position;
reading them all (wallets, positions, settings, index columns) was a third of its time. The
ticker keeps what it read and what it wrote, and each tick reads again only the accounts
written since by anything else. Those writes announce themselves: every write of an
account's wallets, positions or settings goes through ``desk.services.outcomes_save``,
which moves the account's ``version`` on, unless it is a tick's own. A tick's own writes
are told by the market's ``sequence``: what is kept was right after the tick with that
sequence, and is read again whole when the market's sequence is another (another process
ticked it, or a tick was rolled back).

One tick uses the kept accounts at a time: :func:`take` hands them over (a second tick
of the market in another thread finds none and reads the accounts itself), and
:func:`keep` takes them back once the tick has committed; a tick that fails never gives
them back. Only markets with :func:`keep_from` accounts or more are kept: a smaller
market's accounts are read in a few milliseconds, and a classroom's server process keeps
its memory for the learners' connections.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings

from sandbox import engine
from sandbox.desk.selectors import IndexKeys, stored_accounts


@dataclass(frozen=True, slots=True)
class Kept:
    """An account as the database holds it: its engine state, its positions' index
    columns (in the order of ``KEY_COLUMNS``), its cross-linked flag, and the version it
    was read or last written at."""

    state: engine.Account
    keys: IndexKeys
    linked: bool
    version: int


class MarketAccounts:
    """The kept accounts of one market, right after the tick numbered ``sequence``."""

    def __init__(self, sequence: int) -> None:
        self.sequence = sequence
        self.accounts: dict[int, Kept] = {}
        self.known = False  # kept since an earlier tick (not new to this one)
        self.read = 0  # accounts read from the database by this tick (the bench reports it)

    def current(
        self, rows: Iterable[tuple[int, bool, int]], market_id: int, *, whole: bool
    ) -> dict[int, Kept]:
        """The accounts of ``rows`` (id, cross-linked, version: read, and locked, by the
        tick) as they now stand: kept ones whose version has not moved, the others read
        again. ``whole``: the rows are every account of the market (any other kept one is
        gone, or moved to another market)."""
        listed = {pk: (linked, version) for pk, linked, version in rows}
        if whole:
            for pk in [pk for pk in self.accounts if pk not in listed]:
                del self.accounts[pk]
        stale = sorted(
            pk
            for pk, (_, version) in listed.items()
            if (kept := self.accounts.get(pk)) is None or kept.version != version
        )
        if stale:
            # (Most of the market: its rows selected by market, not by thousands of ids.)
            many = whole and 2 * len(stale) > len(listed)
            read = stored_accounts(stale, market_id=market_id if many else None, keys=True)
            for pk in stale:
                linked, version = listed[pk]
                self.accounts[pk] = Kept(read.states[pk], read.keys[pk], linked, version)
            self.read += len(stale)
        return {pk: self.accounts[pk] for pk in sorted(listed)}

    def wrote(
        self,
        states: Mapping[int, engine.Account],
        index: Mapping[int, tuple[IndexKeys, bool]],
    ) -> None:
        """What the tick wrote: each account's new state, and its index columns and
        cross-linked flag as written (its version stays: a tick does not move it)."""
        for pk, state in states.items():
            keys, linked = index[pk]
            self.accounts[pk] = Kept(state, keys, linked, self.accounts[pk].version)


_kept: dict[int, MarketAccounts] = {}
_lock = threading.Lock()


def keep_from() -> int:
    """The fewest accounts a market must have for its accounts to be kept between ticks."""
    return int(settings.SANDBOX_KEEP_ACCOUNTS_FROM)


def take(market_id: int, sequence: int) -> MarketAccounts:
    """The market's kept accounts, if they are those right after tick ``sequence`` (the
    market's last), handed over to the tick; otherwise none kept."""
    with _lock:
        kept = _kept.pop(market_id, None)
    if kept is None or kept.sequence != sequence:
        return MarketAccounts(sequence)
    kept.read = 0
    kept.known = True
    return kept


def keep(market_id: int, kept: MarketAccounts, sequence: int) -> None:
    """After tick ``sequence`` committed: keep its accounts for the next tick (a market
    large enough, see :func:`keep_from`)."""
    kept.sequence = sequence
    with _lock:
        _kept[market_id] = kept


def advanced(market_id: int, sequence: int, written: list[int]) -> None:
    """Tick ``sequence`` committed, computed elsewhere (by the ticker, for accounts a tick
    helper keeps, see .shares): what is kept of the market is still right after it but for
    the ``written`` accounts, which are read again; kept after an older tick, none is."""
    with _lock:
        kept = _kept.get(market_id)
        if kept is None:
            return
        if kept.sequence != sequence - 1:
            del _kept[market_id]
            return
        for pk in written:
            kept.accounts.pop(pk, None)
        kept.sequence = sequence


def forget(market_id: int | None = None) -> None:
    """Keep nothing of ``market_id`` (of every market with None)."""
    with _lock:
        if market_id is None:
            _kept.clear()
        else:
            _kept.pop(market_id, None)
