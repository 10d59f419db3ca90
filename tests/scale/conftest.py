"""The scale-out profile for real: PostgreSQL and Redis servers, several daphne processes
and ticker processes, all on loopback, each started and stopped by the test."""

from __future__ import annotations

import glob
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listened on port {port}")


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def start_redis(redis: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
    except BaseException:
        process.kill()
        process.wait(timeout=10)
        raise
    return process


@dataclass
class Cluster:
    env: dict[str, str]
    workdir: Path
    database_url: str
    redis_bin: str = ""
    redis_port: int = 0
    redis: subprocess.Popen[bytes] | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def stop_redis(self) -> None:
        """Really stop the Redis server (its port refuses connections), not pause it."""
        assert self.redis is not None
        self.redis.terminate()
        self.redis.wait(timeout=10)
        self.redis = None

    def start_redis(self) -> None:
        """Start Redis again on the same port, empty, as after a restart."""
        assert self.redis is None
        self.redis = start_redis(self.redis_bin, self.redis_port)

    def manage(self, *args: str, extra: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self, name: str, command: list[str], port: int | None = None) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        if port is not None:
            self.ports[name] = port
            wait_for_port(port, self.processes[name])

    def start_web(self, name: str) -> str:
        port = free_port()
        daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        self.start(name, [*daphne, "sandbox.asgi:application"], port)
        return f"127.0.0.1:{port}"

    def start_ticker(self, name: str) -> None:
        self.start(name, [sys.executable, "manage.py", "runticker"])

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.database_url) as connection:
            return list(connection.execute(sql, params).fetchall())


def _as_postgres(command: list[str]) -> list[str]:
    """Root may not run the PostgreSQL server; the postgres user (from Debian) can."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    pg = postgres_bin()
    redis = shutil.which("redis-server")
    if pg is None or redis is None:
        missing = " and ".join(
            n for n, ok in (("PostgreSQL", pg is not None), ("redis-server", redis)) if not ok
        )
        pytest.skip(
            f"{missing} not installed: `make test` installs them from Debian's packages when "
            "it runs as root; elsewhere install postgresql and redis-server to run this test"
        )
    workdir = Path(tempfile.mkdtemp(prefix="sandbox-scale-"))
    os.chmod(workdir, 0o777)
    data = workdir / "pgdata"
    pg_port, redis_port = free_port(), free_port()
    cluster: Cluster | None = None
    try:
        subprocess.run(
            _as_postgres([str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "sandbox"]),
            check=True,
            capture_output=True,
        )
        options = f"-p {pg_port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(workdir / "postgres.log")
        # The server outlives pg_ctl: give it a log file, not our pipes, or we would wait
        # for it to exit.
        subprocess.run(
            _as_postgres(
                [str(pg / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start"]
            ),
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        subprocess.run(
            [
                str(pg / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(pg_port),
                "-U",
                "sandbox",
                "sandbox",
            ],
            check=True,
            capture_output=True,
        )
        redis_process = start_redis(redis, redis_port)
        database_url = f"postgres://sandbox@127.0.0.1:{pg_port}/sandbox"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SANDBOX_TICKER": "off",
            "SANDBOX_LEASE_SECONDS": "2",
            "SANDBOX_LOCAL_DIR": str(workdir / "local"),
            "SANDBOX_SECRET_KEY": "scale-test-key-" + "x" * 40,
            # The servers check their database at startup, as in production.
            "SANDBOX_DATABASE_CHECK": "on",
        }
        cluster = Cluster(env, workdir, database_url, redis, redis_port, redis_process)
        cluster.manage("migrate", "--noinput")
        cluster.manage("seed_sandbox")
        yield cluster
        for name in list(cluster.processes):
            process = cluster.processes.pop(name)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    finally:
        if cluster is not None and cluster.redis is not None:
            cluster.redis.terminate()
            cluster.redis.wait(timeout=10)
        subprocess.run(
            _as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        shutil.rmtree(workdir, ignore_errors=True)


class Browser:
    """A person's browser, as far as HTTP goes: cookies, CSRF tokens, redirects."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[str, str]:
        with self.opener.open(f"http://{self.host}{path}", timeout=20) as response:
            return response.geturl(), response.read().decode()

    def csrf(self) -> str:
        for cookie in self.jar:
            if cookie.name == "csrftoken":
                return str(cookie.value)
        raise AssertionError("no CSRF cookie")

    def post(self, path: str, data: dict[str, str], page: str = "") -> tuple[str, str]:
        self.get(page or path)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.csrf()}).encode()
        request = urllib.request.Request(
            f"http://{self.host}{path}", data=body, headers={"Referer": f"http://{self.host}/"}
        )
        with self.opener.open(request, timeout=20) as response:
            return response.geturl(), response.read().decode()

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def on(self, host: str) -> Browser:
        """The same cookies, talking to another process (a load balancer's next pick)."""
        other = Browser(host)
        other.jar = self.jar
        other.opener = self.opener
        return other


SEQUENCE = re.compile(r'id="live-status"[^>]*data-sequence="(\d+)"')
