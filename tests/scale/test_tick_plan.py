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


TICKS = """
from decimal import Decimal
from bench.data import build_market
from sandbox.desk.models import Market
from sandbox.live.services import market_tick

market = build_market(2000, near=6, seed=5)
moves = {"XBTUSDT": ["0.1"], "ETHUSDT": ["-0.1"]}
for start in (600, 28200, 600):  # realisation, funding (and realisation), realisation
    Market.objects.filter(pk=market.pk).update(
        speed=600, volatility=0, sim_seconds=Decimal(start), pending_gaps=moves
    )
    result = market_tick(market_id=market.pk)
    print("tick", result.sequence, result.realised, result.funded, result.accounts_touched)
print("market", market.pk)
"""


def test_set_based_tick_writes_add_up_on_postgresql(cluster: Cluster) -> None:
    """The tick's bulk statements (executemany updates, bulk inserts returning ids) on
    PostgreSQL: every wallet is the sum of its ledger entries after realisation and
    funding ticks over a thousand accounts, and the market moved by exactly three."""
    out = cluster.manage("shell", "-c", TICKS)

    lines = [line.split() for line in out.splitlines() if line.strip()]
    ticks = [line for line in lines if line[0] == "tick"]
    assert [(t[1], t[2], t[3]) for t in ticks] == [
        ("1", "True", "False"),
        ("2", "True", "True"),
        ("3", "True", "False"),
    ], out
    assert all(int(t[4]) > 0 for t in ticks), out
    market = next(line[1] for line in lines if line[0] == "market")
    mismatched = cluster.query(
        "SELECT w.account_id, w.currency FROM desk_wallet w "
        "JOIN desk_paperaccount a ON a.id = w.account_id AND a.market_id = %s "
        "WHERE w.balance::numeric <> (SELECT coalesce(sum(e.amount::numeric), 0) "
        "FROM desk_ledgerentry e WHERE e.account_id = w.account_id "
        "AND e.currency = w.currency)",
        int(market),
    )
    assert mismatched == []
    funded = cluster.query(
        "SELECT count(*) FROM desk_ledgerentry e JOIN desk_paperaccount a "
        "ON a.id = e.account_id WHERE a.market_id = %s AND e.reason = 'funding'",
        int(market),
    )
    positions = cluster.query(
        "SELECT count(*) FROM desk_position WHERE market_id = %s", int(market)
    )
    assert funded == positions  # one funding entry per position
    (sequence,) = cluster.query("SELECT sequence FROM desk_market WHERE id = %s", int(market))[0]
    assert sequence == 3
