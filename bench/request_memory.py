"""Benchmark 7: the server's memory under oversized requests.

A real daphne process serving ``sandbox.asgi:application``; its resident memory is read
before, sampled every 10 ms during, and read after each of: a 100 MB anonymous post with
its length declared, the same sent chunked (no length declared), and a 50 MB lesson file
uploaded by a signed-in teacher. The client sends its body in 64 KB pieces and stops as
soon as the server answers, as a browser does. Target: the server grows by less than
20 MB for each.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any

from bench.servers import free_port, start_daphne, wait_for_port

MB = 1024 * 1024
PIECE = b"x" * (64 * 1024)


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


class _Sampler(threading.Thread):
    """The highest resident memory of ``pid`` seen while running."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmRSS"))
            time.sleep(0.01)


def _post(port: int, path: str, head: dict[str, str], size: int, chunked: bool) -> dict[str, Any]:
    """Send a body of ``size`` bytes in pieces; stop when the server answers."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in head.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while sent < size:
                if select.select([conn], [], [], 0)[0]:
                    break  # the server has answered: stop sending
                piece = PIECE[: size - sent]
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            else:
                if chunked:
                    conn.sendall(b"0\r\n\r\n")
            while chunk := conn.recv(65536):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "none"
    return {"status": status, "sent_mb": sent / MB}


def _measured(pid: int, send: Any) -> dict[str, Any]:
    time.sleep(0.5)
    before = _status_kb(pid, "VmRSS")
    sampler = _Sampler(pid)
    sampler.start()
    began = time.perf_counter()
    result = send()
    result["seconds"] = time.perf_counter() - began
    time.sleep(0.5)
    sampler.running = False
    sampler.join()
    after = _status_kb(pid, "VmRSS")
    peak = max(sampler.peak_kb, after)
    return {**result, "before_mb": before / 1024, "peak_mb": peak / 1024, "after_mb": after / 1024}


def _teacher_cookies() -> dict[str, str]:
    """A signed-in teacher's session and CSRF token, made in the benchmark's database."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    from sandbox.desk.roles import make_teacher

    user, _ = User.objects.get_or_create(username="bench-teacher")
    make_teacher(user)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return {"sessionid": str(session.session_key), "csrftoken": "b" * 32}


def request_memory_benchmark(work: Path) -> dict[str, Any]:
    cookies = _teacher_cookies()
    port = free_port()
    log = (work / "daphne-request-memory.log").open("w")
    server = start_daphne(port, "sandbox.asgi:application", dict(os.environ), log)
    try:
        wait_for_port(port)
        with socket.create_connection(("127.0.0.1", port)) as warm:  # the first page
            warm.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            while warm.recv(65536):
                pass
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        boundary = "sandboxbench"
        upload = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
            "X-CSRFToken": cookies["csrftoken"],
        }
        cases = {
            "post_100mb": lambda: _post(port, "/join/", form, 100 * MB, chunked=False),
            "chunked_100mb": lambda: _post(port, "/join/", form, 100 * MB, chunked=True),
            "lesson_50mb": lambda: _post(port, "/lessons/upload/", upload, 50 * MB, False),
        }
        return {name: _measured(server.pid, send) for name, send in cases.items()}
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def request_memory_section(report: dict[str, Any]) -> list[str]:
    labels = {
        "post_100mb": "100 MB anonymous post, length declared",
        "chunked_100mb": "100 MB anonymous post, chunked (no length)",
        "lesson_50mb": "50 MB lesson file, signed-in teacher",
    }
    lines = [
        "## 7. Memory under oversized requests",
        "",
        "One daphne process serving the sandbox; its resident memory before each request, "
        "the highest seen while it was sent (sampled every 10 ms), and after. The client "
        "sends 64 KB pieces and stops when the server answers.",
        "",
        "| request | answer | sent before the answer | before | peak | after | growth |",
        "|---|---|---|---|---|---|---|",
    ]
    worst = 0.0
    for name, label in labels.items():
        row = report[name]
        growth = row["peak_mb"] - row["before_mb"]
        worst = max(worst, growth)
        lines.append(
            f"| {label} | {row['status']} | {row['sent_mb']:.1f} MB | {row['before_mb']:.0f} MB "
            f"| {row['peak_mb']:.0f} MB | {row['after_mb']:.0f} MB | {growth:.1f} MB |"
        )
    lines += [
        "",
        f"Target growth < 20 MB: {worst:.1f} MB at most, {'met' if worst < 20 else '**missed**'}. "
        "Before the limits, daphne read each body whole and queued it for the application, "
        "and Twisted parsed a posted form in memory besides: this benchmark measured 104 MB, "
        "100 MB and 548 MB of growth for the three (the issue's probe: 1.2 GB for the "
        "100 MB post).",
        "",
    ]
    return lines


if __name__ == "__main__":
    from bench.servers import standalone_setup

    work = standalone_setup()
    print("\n".join(request_memory_section(request_memory_benchmark(work))))
