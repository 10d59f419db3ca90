"""The tick helper process's entry (see .shares): ``python -m sandbox.live.helper FD DB``,
started by a ticker with its end of a socket pair and the database it uses."""

from __future__ import annotations

import os
import sys
from multiprocessing.connection import Connection

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    import django

    django.setup()
    from sandbox.live.shares import serve

    serve(Connection(int(sys.argv[1])), sys.argv[2])
