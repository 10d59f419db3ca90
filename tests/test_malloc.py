"""The server's allocator settings (sandbox.startup.tune_memory): one glibc malloc arena
for all threads, and freed memory given back. Each case runs in a fresh interpreter, since
glibc fixes its arenas when a thread first allocates."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox.startup import _glibc

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(_glibc() is None, reason="glibc's allocator only")

# Threads that allocate together, then the number of heaps glibc reports (malloc_info).
THREADS_THEN_HEAPS = """
import ctypes, tempfile, threading

libc = ctypes.CDLL(None)
barrier = threading.Barrier(6)

def work():
    kept = [bytes(5000) for _ in range(200)]  # malloc'd (over pymalloc's 512 bytes)
    barrier.wait()  # all six threads alive, each having allocated
    barrier.wait()
    del kept

threads = [threading.Thread(target=work) for _ in range(5)]
for thread in threads:
    thread.start()
barrier.wait()
with tempfile.NamedTemporaryFile("r") as report:
    libc.fopen.restype = ctypes.c_void_p
    stream = libc.fopen(report.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    print(report.read().count("<heap nr="))
barrier.wait()
for thread in threads:
    thread.join()
"""


def run(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def test_one_arena_for_every_thread() -> None:
    limited = run(
        "from sandbox.startup import limit_malloc_arenas\n"
        "assert limit_malloc_arenas()\n" + THREADS_THEN_HEAPS
    )
    unlimited = run(THREADS_THEN_HEAPS, MALLOC_ARENA_MAX="")
    assert int(limited) == 1
    assert int(unlimited) > 1  # glibc's own default: an arena per thread, up to 8 a core


def rss_kb_code(body: str) -> str:
    return (
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1])\n" + body
    )


def test_trim_gives_freed_memory_back() -> None:
    # 80 MB in 2 KB blocks freed under one block still in use, so glibc cannot shrink its
    # heap from the top by itself: only malloc_trim returns it.
    code = rss_kb_code(
        "from sandbox.startup import trim_malloc\n"
        "blocks = [bytes(2000) for _ in range(40_000)]\n"
        "top = bytes(2000)\n"
        "del blocks\n"
        "before = rss()\n"
        "print(trim_malloc(), before - rss())\n"
    )
    trimmed, given_kb = run(code).split()
    assert trimmed == "True"
    assert int(given_kb) > 40_000  # of the 80 MB freed


def test_server_tunes_at_start_unless_turned_off() -> None:
    code = (
        "import threading\n"
        "import sandbox.asgi\n"
        "print(sorted(t.name for t in threading.enumerate() if t.name == 'malloc-trim'))\n"
    )
    common = {"SANDBOX_DATABASE_CHECK": "off", "SANDBOX_TICKER": "off"}
    assert run(code, **common) == "['malloc-trim']"
    assert run(code, **common, SANDBOX_MALLOC_TUNING="off") == "[]"


def test_trim_thread_once_per_process() -> None:
    code = (
        "import threading\n"
        "from sandbox.startup import start_malloc_trim, tune_memory\n"
        "assert tune_memory(False) is False\n"
        "names = [t.name for t in threading.enumerate()]\n"
        "first = start_malloc_trim(60)\n"
        "second = start_malloc_trim(60)\n"
        "print(names.count('malloc-trim'), first is second, first.daemon)\n"
    )
    assert run(code) == "0 True True"
