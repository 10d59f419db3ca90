"""``python -m bench.ticker``: ``manage.py runticker`` with the benchmark's timestamps
(bench.hooks) when ``SANDBOX_BENCH_LOG`` names a file: the scale-out profile's ticker."""

from __future__ import annotations

import os

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    django.setup()
    from django.core.management import call_command

    from bench import hooks

    hooks.install()
    call_command("runticker")


if __name__ == "__main__":
    main()
