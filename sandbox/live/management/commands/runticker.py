"""``python manage.py runticker``: run the market ticker as its own process.

Use it when the web processes run with ``SANDBOX_TICKER=off`` (several daphne processes
behind a load balancer). Several tickers may run; each market is ticked by exactly one.
The browsers only see the ticks through a shared channel layer (``REDIS_URL``).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand

from sandbox.live.ticker import Ticker
from sandbox.startup import check_database_or_exit


class Command(BaseCommand):
    help = "Tick every running market (the live market's clock), until stopped."

    def handle(self, *args: Any, **options: Any) -> None:
        check_database_or_exit()  # missing, read-only or unmigrated: refuse, saying why
        asyncio.run(self._run())

    async def _run(self) -> None:
        ticker = Ticker()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, ticker.stopping.set)
        self.stdout.write(f"Ticker {ticker.owner} running; Ctrl-C stops it.")
        await ticker.run()
