"""A large market's realisation and funding ticks shared with a helper process.

Such a tick computes every account of its market holding a position, one after another
in Python, and writes what they change: on one core, the computing alone took longer
than the target for the whole tick. So a ticker starts a helper process (a new
interpreter running this module: nothing of the ticker's threads comes with it) and
hands it a share of each such tick's accounts: those whose id falls in its share
(:class:`Split`, the same accounts from tick to tick). The helper keeps its share's accounts in
memory between ticks exactly as the ticker keeps its own (:mod:`.kept`: read again when
their version moved, or when the market's sequence is not the one they were kept at),
computes them with the very code the ticker runs (``services.Work.compute``) and sends
back what they write, gathered (rows, no objects to compute again). Meanwhile the ticker
computes and writes its own share; then it writes the helper's, in its transaction: the
tick is still one transaction, applied once.

The helper reads the accounts written since the last tick through its own connection: it
sees what is committed, and the ticker has written nothing of the accounts yet (and
holds their locks, so nothing else has either). So a tick inside a transaction of its
caller (a test's) never asks the helper. It keeps what it computed only when told the
tick committed; a tick rolled back leaves it nothing kept for that market.

Faults: a helper that is not running yet (it starts on the first large ledger tick and
is used once ready), that died, failed or did not answer in time, costs only speed: the
ticker computes the share itself, and a new helper is started for the ticks after.
``SANDBOX_TICK_HELPER=off`` never starts one.
"""

from __future__ import annotations

import logging
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Generator
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection

from . import kept as keeping

if TYPE_CHECKING:
    from .services import Share, Work

log = logging.getLogger(__name__)

SHARES = 40  # accounts are shared by their id's remainder by SHARES: the ticker computes
FEWEST, MOST = 4, 28  # those below its number of shares (see Split); at first:
FIRST_OURS = {False: 16, True: 13}  # of a realisation tick, of a funding tick
ANSWER_SECONDS = 30.0  # a helper that has not answered by then is stopped
PART = 400  # accounts a helper computes before it sends them (the ticker writes them)
WAITED, TRAILED = 0.03, 0.10  # of a tick's time: see Split.after
STEADY = 3  # ticks in a row asking for the same move before the split moves


class Split:
    """How a market's accounts are shared: the ticker computes those whose id leaves a
    remainder below ``ours`` by :data:`SHARES`, the helper the others.

    The ticker also writes every account, so the best split leaves it fewer to compute,
    by as much as writing costs against computing; that varies with the market's size and
    the machine. So the split follows what the ticks show: a ticker that waited for the
    helper's parts :data:`STEADY` ticks in a row takes one share more; one that went on
    writing long after the helper was done as many ticks in a row gives one share away.
    (An account moving over is read again by the side that takes it, once: the split
    moves only on a steady sign, not to and fro with each tick.)"""

    def __init__(self, ours: int) -> None:
        self.ours = ours
        self.leaning = 0  # ticks in a row that asked for a move the same way

    def rows(
        self, rows: list[tuple[int, bool, int]]
    ) -> tuple[list[tuple[int, bool, int]], list[tuple[int, bool, int]]]:
        """The accounts' rows (id first) the ticker computes, and those the helper does."""
        ours = [row for row in rows if row[0] % SHARES < self.ours]
        theirs = [row for row in rows if row[0] % SHARES >= self.ours]
        return ours, theirs

    def after(self, waited: float, trailed: float, took: float) -> None:
        """After a tick that took ``took`` seconds until its writes were done, in which the
        ticker waited ``waited`` for the helper's parts, and wrote for ``trailed`` after the
        helper was done. (At the best split the ticker hardly waits, and writes the last
        part or two after the helper is done.)"""
        lean = 1 if waited > WAITED * took else -1 if trailed > TRAILED * took else 0
        self.leaning = self.leaning + lean if lean and lean * self.leaning >= 0 else lean
        if abs(self.leaning) < STEADY:
            return
        self.ours = max(FEWEST, min(MOST, self.ours + lean))
        self.leaning = 0


_splits: dict[tuple[int, bool], Split] = {}


def split_of(market_id: int, *, funding: bool) -> Split:
    """The market's split for its funding ticks, or for its ticks realising profit only
    (in this process; a new ticker starts from the first one). A funding tick writes four
    times the rows a realisation tick does, so the ticker, which writes them all, computes
    a smaller share of it; the accounts whose share differs are read again by the side
    taking them, at each funding tick and after."""
    return _splits.setdefault((market_id, funding), Split(FIRST_OURS[funding]))


class Helper:
    """The ticker's end of a helper process."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        # (A new interpreter running this module: nothing of the ticker's threads or
        # state comes with it, and its start does not depend on the ticker's main module.)
        database = str(connection.settings_dict["NAME"])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox.live.helper", str(theirs.fileno()), database],
            pass_fds=[theirs.fileno()],
            close_fds=True,
            # (Not in the terminal's process group: a Ctrl-C stops the server, and the
            # helper then ends with it as its socket closes, without a traceback of its own.)
            start_new_session=True,
        )
        theirs.close()
        self.connection = Connection(ours.detach())
        self.ready = False
        self.busy = threading.Lock()  # one tick at a time
        self.sending = threading.Lock()
        self.markets: set[int] = set()  # the markets it was given a share of
        self.failed = False
        self.waited = self.done_at = 0.0  # (see answers)
        self.received: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def alive(self) -> bool:
        return self.process.poll() is None

    def usable(self) -> bool:
        """Whether it runs and has said it is ready (asked without waiting)."""
        if not self.alive():
            return False
        if not self.ready:
            try:
                self.ready = self.connection.poll() and self.connection.recv() == "ready"
            except (EOFError, OSError):
                return False
        return self.ready

    def ask(self, work: Work, rows: list[tuple[int, bool, int]]) -> bool:
        """Hand it a tick's share (``rows``: the accounts' id, flag and version); False if
        it could not be handed over."""
        try:
            with self.sending:
                self.connection.send(("tick", work, rows))
        except (OSError, ValueError):
            log.exception("the tick helper could not be given its share")
            self.busy.release()
            return False
        self.markets.add(work.market_id)
        self.received = queue.SimpleQueue()
        threading.Thread(
            target=self._receive, args=(self.received,), name="tick-helper", daemon=True
        ).start()
        return True

    def _receive(self, received: queue.SimpleQueue[tuple[str, Any]]) -> None:
        """In a thread of its own from :meth:`ask` on: the helper's messages, as they come,
        until it is done (so it never waits for the ticker to read while it computes)."""
        try:
            while True:
                waited = 0.0
                while not self.connection.poll(0.2):
                    waited += 0.2
                    if not self.alive() or waited >= ANSWER_SECONDS:
                        received.put(("gone", None))
                        return
                kind, share = self.connection.recv()
                if kind != "share":
                    self.done_at = time.perf_counter()
                received.put((kind, share))
                if kind != "share":
                    return
        except (EOFError, OSError):
            received.put(("gone", None))

    def answers(self) -> Generator[Share, None, None]:
        """Its share, a part at a time as it computes them, until it is done; ``failed``
        says, after the last, whether it stopped short (it failed, died or took too
        long: see the log), the accounts it did not send then being the ticker's to do;
        ``waited``, how long the ticker waited for its parts, and ``done_at``, when (by
        ``time.perf_counter``) it was done (see Split)."""
        self.failed = True
        self.waited = 0.0
        heard = False  # (its last word: anything it still sends after is for no tick)
        try:
            while True:
                if self.received.empty():
                    blocked = time.perf_counter()
                    kind, share = self.received.get()
                    self.waited += time.perf_counter() - blocked
                else:
                    kind, share = self.received.get()
                if kind == "share":
                    yield share
                    continue
                heard = True
                if kind == "done":
                    self.failed = False
                elif kind == "failed":
                    log.error("the tick helper failed (see its log); the rest is done here")
                else:
                    log.error("the tick helper stopped answering; the rest is done here")
                    self.stop()
                return
        finally:
            if not heard:  # the tick stopped reading its parts (it failed): stop it too
                self.stop()
            self.busy.release()

    def committed(self, market_id: int, sequence: int) -> None:
        """Tell it the tick ``sequence`` of ``market_id`` committed: it keeps its share."""
        self._send(("committed", market_id, sequence))

    def advanced(self, market_id: int, sequence: int, written: list[int]) -> None:
        """Tell it the tick ``sequence`` of a market it was given committed without it,
        and which accounts the ticker wrote (it reads those again, and keeps the rest)."""
        if market_id in self.markets:
            self._send(("advanced", market_id, sequence, written))

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            with self.sending:
                self.connection.send(message)
        except (OSError, ValueError):
            log.warning("the tick helper could not be told of a commit", exc_info=True)

    def abandon(self) -> None:
        """The tick it was given failed before its answer was read: it is stopped (a new
        one starts for later ticks)."""
        self.stop()
        self.busy.release()

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.error("the tick helper (pid %s) did not stop", self.process.pid)
        self.connection.close()


_helper: Helper | None = None
_helper_lock = threading.Lock()
_restart_at = 0.0  # (by time.monotonic: a helper that keeps dying is not restarted at once)
RESTART_SECONDS = 30


def helper_for(accounts: int) -> Helper | None:
    """The helper to share a ledger tick of a market of ``accounts`` accounts with, ready
    and now given to this tick (its ``busy`` lock held until :meth:`Helper.answers` ends), or
    None: the market is small (see ``kept.keep_from``), the tick runs inside its caller's
    transaction, helpers are off, or none is ready (one is then started, but not within
    :data:`RESTART_SECONDS` of one that stopped: one that cannot start is not started
    again at every tick)."""
    global _helper
    if (
        settings.SANDBOX_TICK_HELPER == "off"
        or accounts < keeping.keep_from()
        or len(connection.atomic_blocks) != 1
    ):
        return None
    global _restart_at
    with _helper_lock:
        if _helper is not None and not _helper.alive():
            log.error("the tick helper stopped; another starts in %s s", RESTART_SECONDS)
            _helper.stop()
            _helper = None
            _restart_at = time.monotonic() + RESTART_SECONDS
        if _helper is None:
            if time.monotonic() >= _restart_at:
                _helper = Helper()  # (used from the first tick that finds it ready)
            return None
        helper = _helper
    if not helper.busy.acquire(blocking=False):
        return None  # (another market's tick has it)
    if not helper.usable():
        helper.busy.release()
        return None
    return helper


def advanced(market_id: int, sequence: int, written: list[int]) -> None:
    """After a tick the helper was not given committed (see :meth:`Helper.advanced`)."""
    helper = _helper
    if helper is not None and helper.alive():
        helper.advanced(market_id, sequence, written)


def start(wait_seconds: float = 0) -> bool:
    """Start the helper now (a ticker starting up), waiting up to ``wait_seconds`` for it
    to be ready; whether it is."""
    global _helper
    if settings.SANDBOX_TICK_HELPER == "off":
        return False
    with _helper_lock:
        if _helper is None or not _helper.alive():
            _helper = Helper()
        helper = _helper
    deadline = time.monotonic() + wait_seconds
    while not helper.usable() and time.monotonic() < deadline:
        time.sleep(0.05)
    return helper.usable()


def stop() -> None:
    """Stop the helper, if one runs."""
    global _helper
    with _helper_lock:
        if _helper is not None:
            _helper.stop()
            _helper = None


# ------------------------------------------------------------------------ in the helper


def serve(pipe: Connection, database: str) -> None:
    """The helper process (Django set up, see .helper): on the ticker's database, each
    tick's share computed and sent back, until the ticker goes away."""
    connection.settings_dict["NAME"] = database
    from . import services

    pending: dict[int, tuple[int, keeping.MarketAccounts]] = {}
    pipe.send("ready")
    while True:
        try:
            message: tuple[Any, ...] = pipe.recv()
        except (EOFError, OSError):
            return
        if message[0] == "tick":
            _, work, rows = message
            pending.pop(work.market_id, None)
            _compute(pipe, services, work, rows, pending)
        elif message[0] == "advanced":
            _, market_id, sequence, written = message
            keeping.advanced(market_id, sequence, written)
        elif message[0] == "committed":
            _, market_id, sequence = message
            done = pending.pop(market_id, None)
            if done is not None and done[0] == sequence:
                keeping.keep(market_id, done[1], sequence)


def _compute(
    pipe: Connection,
    services: Any,
    work: Work,
    rows: list[tuple[int, bool, int]],
    pending: dict[int, tuple[int, keeping.MarketAccounts]],
) -> None:
    """Compute the share of a tick and send it a part at a time, then say it is done (or
    failed); keep what it wrote pending the ticker's word that the tick committed. The
    parts are sent by a thread of their own: computing never waits for the ticker to
    read (a socket holds little)."""
    outbox: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()

    def send() -> None:
        while (message := outbox.get()) is not None:
            pipe.send(message)

    sender = threading.Thread(target=send, name="tick-helper-sender", daemon=True)
    sender.start()
    kept = keeping.take(work.market_id, work.sequence - 1)
    try:
        with services.CollectorPause() as pause:
            pause.start()
            share: Share
            for share in work.computed(kept, rows, whole=True, every=PART):
                kept.wrote(share.written, share.writes.index)
                share.writes.index = {}  # (its own to keep: the ticker needs none of it)
                outbox.put(("share", replace(share, written={})))
    except Exception:
        log.exception("the tick helper could not compute its share of a tick")
        outbox.put(("failed", None))
    else:
        pending[work.market_id] = (work.sequence, kept)
        outbox.put(("done", None))
    outbox.put(None)
    sender.join()
