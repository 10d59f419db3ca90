"""A web process on real PostgreSQL holds its pool's connections, however many requests it
serves: each request runs in a thread of its own and borrows a pooled connection, instead
of opening one that stays open after the request (as CONN_MAX_AGE did under daphne)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import Browser, Cluster

pytestmark = pytest.mark.scale
POOL = 4


def backends(cluster: Cluster) -> int:
    """The server's connections to the sandbox's database, this query's own excepted."""
    rows = cluster.query(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = 'sandbox' AND pid <> pg_backend_pid()"
    )
    count: int = rows[0][0]
    return count


def test_many_requests_use_the_pool_and_leave_no_connection_behind(cluster: Cluster) -> None:
    cluster.env["SANDBOX_DB_POOL_SIZE"] = str(POOL)
    host = cluster.start_web("pooled")
    learners = [Browser(host) for _ in range(8)]

    def visit(learner: Browser) -> list[str]:
        return [learner.get(path)[0] for path in ("/", "/lessons/", "/lessons/", "/join/")]

    with ThreadPoolExecutor(max_workers=len(learners)) as pool:
        visited = list(pool.map(visit, learners * 3))  # 96 requests, 8 at a time

    assert len(visited) == 24
    assert all("/desk/" in urls[0] and urls[1].endswith("/lessons/") for urls in visited)
    assert 1 <= backends(cluster) <= POOL
