"""Deployment defaults that protect the learners: the Content-Security-Policy on every
answer, Secure cookies and HSTS when served over HTTPS (SANDBOX_HTTPS=1), and a database
and local directory no other user of the machine can read."""

from __future__ import annotations

import os
import runpy
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.utils import ConnectionHandler
from django.http import HttpResponse
from django.test import Client, override_settings

from sandbox.desk.accounts import remember_room, room_cookie
from sandbox.security import CONTENT_SECURITY_POLICY
from sandbox.sqlite.base import make_private
from tests.web.conftest import Learner

ROOT = Path(__file__).resolve().parents[2]
YEAR = 365 * 24 * 3600


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def settings_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict[str, Any]:
    """sandbox/settings.py as a fresh process would read it with ``env`` set (its local
    directory in ``tmp_path``)."""
    for name in ("SANDBOX_HTTPS", "SANDBOX_HSTS_INCLUDE_SUBDOMAINS", "SANDBOX_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SANDBOX_LOCAL_DIR", str(tmp_path / "local"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "sandbox" / "settings.py"))


# ---------------------------------------------------------------- Content-Security-Policy


def directives(response: Any) -> dict[str, str]:
    policy: str = response["Content-Security-Policy"]
    parts = [part.strip().split(" ", 1) for part in policy.split(";")]
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def test_the_policy_allows_only_the_apps_own_scripts_styles_and_sockets(
    learner: Learner,
) -> None:
    found = directives(learner.get("desk"))

    assert found == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "object-src": "'none'",
        "frame-ancestors": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
    }
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 302),
        ("/login/", 200),
        ("/signup/", 200),
        ("/lessons/", 200),
        ("/join/", 200),
        ("/no/such/page/", 404),
        ("/desk/999999/XBTUSDT/", 404),
    ],
)
def test_every_page_carries_the_policy(seeded: None, path: str, status: int) -> None:
    response = Client().get(path)

    assert response.status_code == status
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_fragments_refusals_and_errors_carry_the_policy(learner: Learner) -> None:
    fragment = learner.get("order_preview", {"side": "buy", "qty": "0.1"}, htmx=True)
    refused = learner.post("order_submit", {"side": "sideways", "qty": "abc"})
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = learner.client.cookies
    forged = strict.post(learner.url("order_submit"), {"side": "buy", "qty": "0.1"})
    not_allowed = learner.client.post(learner.url("desk"))

    assert (fragment.status_code, refused.status_code) == (200, 400)
    assert (forged.status_code, not_allowed.status_code) == (403, 405)
    for response in (fragment, refused, forged, not_allowed):
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_a_server_error_carries_the_policy(seeded: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.lessons import views

    def broken() -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "Lesson", SimpleNamespace(objects=SimpleNamespace(all=broken)))

    response = Client(raise_request_exception=False).get("/lessons/")

    assert response.status_code == 500
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_no_template_has_inline_script_style_or_handler() -> None:
    """What the policy would block: an inline <script>, <style>, style= or on…= handler,
    htmx's hx-on (run through eval) or a javascript: address."""
    import re

    blocked = re.compile(
        r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|hx-on|javascript:", re.IGNORECASE
    )
    templates = sorted((ROOT / "templates").rglob("*.html"))
    assert templates
    for template in templates:
        text = template.read_text()
        assert not blocked.search(text), f"{template.relative_to(ROOT)}: {blocked.search(text)}"


def test_htmx_is_told_not_to_inject_its_style_nor_to_eval(learner: Learner) -> None:
    page = learner.get("desk").content.decode()

    assert (
        """<meta name="htmx-config" content='{"includeIndicatorStyles": false, """
        """"allowEval": false}'>"""
    ) in page
    assert page.index('name="htmx-config"') < page.index("htmx-2")
    assert ".htmx-indicator" in (ROOT / "static" / "css" / "sandbox.css").read_text()


# ---------------------------------------------------------------- HTTPS


def test_over_plain_http_no_cookie_is_secure_and_no_hsts_is_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    read = settings_with(monkeypatch, tmp_path)

    assert read["SANDBOX_HTTPS"] is False
    assert read["SESSION_COOKIE_SECURE"] is False
    assert read["CSRF_COOKIE_SECURE"] is False
    assert read.get("SECURE_HSTS_SECONDS", 0) == 0
    assert "SECURE_PROXY_SSL_HEADER" not in read
    assert read["SECURE_SSL_REDIRECT"] is False


def test_sandbox_https_makes_cookies_secure_and_sends_hsts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    read = settings_with(monkeypatch, tmp_path, SANDBOX_HTTPS="1")

    assert read["SANDBOX_HTTPS"] is True
    assert read["SESSION_COOKIE_SECURE"] is True
    assert read["CSRF_COOKIE_SECURE"] is True
    assert read["SECURE_HSTS_SECONDS"] == YEAR
    assert read["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert read["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert read["SECURE_SSL_REDIRECT"] is False  # the proxy redirects plain HTTP


def test_hsts_may_include_subdomains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    read = settings_with(
        monkeypatch, tmp_path, SANDBOX_HTTPS="1", SANDBOX_HSTS_INCLUDE_SUBDOMAINS="1"
    )

    assert read["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True


HTTPS_KEYS = (
    "SANDBOX_HTTPS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_PROXY_SSL_HEADER",
)


@pytest.fixture
def https(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The server as SANDBOX_HTTPS=1 configures it."""
    read = settings_with(monkeypatch, tmp_path, SANDBOX_HTTPS="1")
    with override_settings(**{key: read[key] for key in HTTPS_KEYS}):
        yield


def secure_cookies(response: Any) -> dict[str, bool]:
    return {name: bool(morsel["secure"]) for name, morsel in response.cookies.items()}


def test_behind_the_proxy_every_cookie_is_secure_and_hsts_is_sent(
    seeded: None, https: None
) -> None:
    client = Client(headers={"X-Forwarded-Proto": "https"})

    first_visit = client.get("/")  # the browser's paper account
    form = client.get("/signup/")  # the CSRF cookie
    signed_up = client.post(
        "/signup/",
        {
            "username": "ada",
            "password1": "a long learner password 42",
            "password2": "a long learner password 42",
        },
    )

    assert first_visit.status_code == 302
    assert secure_cookies(first_visit) == {"sandbox_account": True}
    assert secure_cookies(form) == {"csrftoken": True}
    assert signed_up.status_code == 302, signed_up.content.decode()[:500]
    assert secure_cookies(signed_up)["sessionid"] is True
    assert form["Strict-Transport-Security"] == f"max-age={YEAR}"


def test_a_room_cookie_is_secure_behind_the_proxy(learner: Learner, https: None) -> None:
    response = HttpResponse()

    remember_room(response, 7, learner.account)

    assert secure_cookies(response) == {room_cookie(7): True}


def test_without_https_a_room_cookie_is_not_secure(learner: Learner) -> None:
    response = HttpResponse()

    remember_room(response, 7, learner.account)

    assert secure_cookies(response) == {room_cookie(7): False}


def test_without_https_the_account_cookie_is_not_secure_and_no_hsts(seeded: None) -> None:
    response = Client(headers={"X-Forwarded-Proto": "https"}).get("/")

    assert secure_cookies(response) == {"sandbox_account": False}
    assert "Strict-Transport-Security" not in response


# ---------------------------------------------------------------- private files


def test_the_local_directory_and_secret_key_are_private(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings_with(monkeypatch, tmp_path)

    assert mode(tmp_path / "local") == 0o700
    assert mode(tmp_path / "local" / "secret_key") == 0o600


def test_a_local_directory_made_before_is_made_private(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "local").mkdir(mode=0o755)
    os.chmod(tmp_path / "local", 0o755)

    settings_with(monkeypatch, tmp_path, SANDBOX_SECRET_KEY="given")

    assert mode(tmp_path / "local") == 0o700


def test_a_new_database_and_its_log_files_are_private(
    tmp_path: Path, django_db_blocker: Any
) -> None:
    from django.conf import settings

    name = str(tmp_path / "new.sqlite3")
    handler = ConnectionHandler(
        {"default": {**settings.DATABASES["default"], "NAME": name, "TEST": {}}}
    )
    database = handler["default"]
    with django_db_blocker.unblock():  # a database of its own, not the tests'
        try:
            with database.cursor() as cursor:
                cursor.execute("CREATE TABLE secret (hash TEXT)")
                cursor.execute("INSERT INTO secret VALUES ('pbkdf2_sha256$...')")
            modes = {suffix: mode(f"{name}{suffix}") for suffix in ("", "-wal", "-shm")}
        finally:
            database.close()

    assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


@pytest.mark.django_db
def test_the_servers_own_database_is_private() -> None:
    connection.ensure_connection()
    name = str(connection.settings_dict["NAME"])

    assert connection.settings_dict["ENGINE"] == "sandbox.sqlite"
    assert mode(name) == 0o600


@pytest.mark.django_db(transaction=True)  # outside a transaction, as a request's write
def test_the_writers_lock_file_beside_the_database_is_private() -> None:
    with transaction.atomic():  # a transaction queues with the database's writers
        pass

    assert mode(f"{connection.settings_dict['NAME']}.writers") == 0o600


def test_an_existing_database_is_made_private_keeping_read_only_files_read_only(
    tmp_path: Path,
) -> None:
    name = tmp_path / "old.sqlite3"
    for suffix, before in (("", 0o644), ("-wal", 0o664), ("-shm", 0o444)):
        Path(f"{name}{suffix}").write_bytes(b"")
        os.chmod(f"{name}{suffix}", before)

    make_private(str(name))

    assert [mode(f"{name}{suffix}") for suffix in ("", "-wal", "-shm")] == [0o600, 0o600, 0o400]


def test_a_database_in_a_missing_directory_is_left_for_sqlite_to_refuse(tmp_path: Path) -> None:
    name = tmp_path / "missing" / "db.sqlite3"

    make_private(str(name))

    assert not name.parent.exists()


@pytest.mark.parametrize("name", ["", ":memory:", "file:memdb?mode=memory&cache=shared"])
def test_in_memory_databases_are_left_alone(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    make_private(name)

    assert list(tmp_path.iterdir()) == []
