"""The candidates' query, compiled once per set of symbols and run with each tick's market
and marks: it finds what Django's query built afresh finds, market by market."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.desk import services as desk_services
from sandbox.live import services

from .conftest import BUY, ISOLATED, SELL, open_position, seeded

__all__ = ["seeded"]

D = Decimal


@pytest.mark.usefixtures("seeded")
def test_the_compiled_query_finds_each_markets_own_positions_as_the_built_one_does() -> None:
    first, second = desk_services.account_create(), desk_services.account_create()
    open_position(first, "XBTUSDT", BUY, "0.1", ISOLATED, "100")  # liquidation 59700
    open_position(second, "XBTUSDT", SELL, "0.1", ISOLATED, "100")  # liquidation 60300
    open_position(second, "ETHUSDT", BUY, "1", ISOLATED, "50")
    services._candidates_sql.cache_clear()

    found: dict[str, list[list[int]]] = {}
    for price in ("60000", "59700", "59700.5", "60300", "1", "1000000"):
        marks = {"ETHUSDT": D("3000"), "XBTUSDT": D(price)}
        found[price] = []
        for account in (first, second):
            built = sorted(set(services.candidates_query(account.market_id, marks)))
            assert services._candidates(account.market, marks) == built, (price, account.pk)
            found[price].append(built)

    assert services._candidates_sql.cache_info().misses == 1  # one SQL for both markets
    assert found["60000"] == [[], []]
    assert found["59700"] == [[first.pk], []]  # exactly at the price counts
    assert found["59700.5"] == [[], []]
    assert found["60300"] == [[], [second.pk]]
    assert found["1"] == [[first.pk], []]
    assert found["1000000"] == [[], [second.pk]]
    # The ETHUSDT long (isolated 50x, liquidation below 3000) is reached by its own mark.
    assert services._candidates(second.market, {"ETHUSDT": D("100")}) == [second.pk]
