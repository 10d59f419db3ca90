"""On real PostgreSQL too, a tick finds the positions a mark reached through the
(market, instrument, key) indexes: no branch of the candidate query reads the positions
table whole, so a tick that reaches nobody costs the same at any number of positions."""

from __future__ import annotations

import pytest

from .conftest import Cluster

pytestmark = pytest.mark.scale

PLAN = """
from decimal import Decimal
from django.db import connection
from bench.data import MARKS, build_market
from sandbox.live.services import candidates_query

markets = [build_market(4000, near=6, seed=seed) for seed in (1, 2, 3)]
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
print(candidates_query(markets[1].pk, dict(MARKS)).explain())
"""


def test_every_branch_of_the_candidate_query_uses_an_index_on_postgresql(
    cluster: Cluster,
) -> None:
    plan = cluster.manage("shell", "-c", PLAN)

    assert "Seq Scan" not in plan, plan
    used = {name for name in plan.split() if name.startswith("position_")}
    assert used == {
        "position_liquidation",
        "position_below",
        "position_above",
        "position_band_low",
        "position_band_high",
    }, plan
    # One index search per condition and symbol, each on the market and instrument.
    searches = [line for line in plan.splitlines() if "Index Cond: ((market_id = " in line]
    assert len(searches) == 6 * 2, plan
