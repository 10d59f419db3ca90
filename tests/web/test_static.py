"""Static files: hashed names on the pages, gzipped, cached for good, a favicon, and a
server that refuses to start without them."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.test import Client

from sandbox.staticfiles import check_static_files_or_exit, static_files_problem
from tests.web.asgi import http_scope
from tests.web.conftest import Learner

ROOT = Path(__file__).resolve().parents[2]
HTMX = Path(__import__("django_htmx").__file__).parent / "static" / "django_htmx"
GZIP = {"Accept-Encoding": "gzip, deflate, br"}
YEARS = "max-age=315360000, public, immutable"


def _linked(page: str) -> dict[str, str]:
    """The static addresses a page links, by the name before its hash."""
    addresses = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    return {re.sub(r"\.[0-9a-f]{12}(\.\w+)$", r"\1", a): a for a in addresses}


def _body(response: object) -> bytes:
    content: bytes = response.content  # type: ignore[attr-defined]
    return content


def test_the_desk_links_every_static_file_by_a_hashed_name(learner: Learner) -> None:
    page = learner.client.get("/", follow=True).content.decode()

    linked = _linked(page)

    for name in (
        "/static/css/sandbox.css",
        "/static/js/desk.js",
        "/static/favicon.svg",
        "/static/django_htmx/htmx-2.min.js",
        "/static/django_htmx/ext/hx-ws-2.min.js",
    ):
        assert name in linked, f"{name} is not linked: {sorted(linked)}"
        assert re.fullmatch(r"/static/.+\.[0-9a-f]{12}\.\w+", linked[name]), linked[name]


@pytest.mark.parametrize(
    ("name", "source", "kind"),
    [
        ("/static/css/sandbox.css", ROOT / "static" / "css" / "sandbox.css", "text/css"),
        ("/static/js/desk.js", ROOT / "static" / "js" / "desk.js", "text/javascript"),
        ("/static/django_htmx/htmx-2.min.js", HTMX / "htmx-2.min.js", "text/javascript"),
        ("/static/favicon.svg", ROOT / "static" / "favicon.svg", "image/svg+xml"),
    ],
)
def test_a_hashed_file_is_gzipped_and_cached_for_good(
    learner: Learner, name: str, source: Path, kind: str
) -> None:
    address = _linked(learner.client.get("/", follow=True).content.decode())[name]

    response = Client().get(address, headers=GZIP)

    assert response.status_code == 200
    assert response["Content-Type"].startswith(kind)
    assert response["Content-Encoding"] == "gzip"
    assert response["Cache-Control"] == YEARS
    assert "Accept-Encoding" in response["Vary"]
    assert int(response["Content-Length"]) == len(_body(response))
    assert len(_body(response)) < source.stat().st_size
    # (CSS's links to other files would be rewritten to hashed names; it has none.)
    assert gzip.decompress(_body(response)) == source.read_bytes()


def test_a_browser_that_does_not_accept_gzip_gets_the_file_itself(learner: Learner) -> None:
    address = _linked(learner.client.get("/", follow=True).content.decode())["/static/js/desk.js"]

    response = Client().get(address)

    assert response.status_code == 200
    assert "Content-Encoding" not in response
    assert _body(response) == (ROOT / "static" / "js" / "desk.js").read_bytes()


def test_a_file_asked_for_by_its_plain_name_is_cached_only_briefly(seeded: None) -> None:
    response = Client().get("/static/css/sandbox.css", headers=GZIP)

    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=60, public"


def test_a_hashed_file_asked_for_again_is_not_sent_again(learner: Learner) -> None:
    address = _linked(learner.client.get("/", follow=True).content.decode())["/static/js/desk.js"]
    first = Client().get(address, headers=GZIP)

    again = Client().get(address, headers={**GZIP, "If-None-Match": first["ETag"]})

    assert again.status_code == 304
    assert _body(again) == b""


def test_a_head_request_gets_the_headers_without_the_file(seeded: None) -> None:
    response = Client().head("/static/css/sandbox.css")

    assert response.status_code == 200
    size = (ROOT / "static" / "css" / "sandbox.css").stat().st_size
    assert int(response["Content-Length"]) == size
    assert _body(response) == b""


def test_a_post_to_a_static_file_is_refused(seeded: None) -> None:
    response = Client().post("/static/css/sandbox.css")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_favicon_ico_is_answered_with_the_icon(seeded: None) -> None:
    response = Client().get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    icon = _body(response)
    assert icon == (ROOT / "static" / "root" / "favicon.ico").read_bytes()
    assert icon[:4] == b"\x00\x00\x01\x00"  # an icon file's header


def test_the_favicon_is_the_sandbox_s_own(seeded: None) -> None:
    svg = (ROOT / "static" / "favicon.svg").read_text()

    assert svg.startswith("<svg") and "#1f5fbf" in svg
    assert "<script" not in svg


def test_pages_are_gzipped_for_a_browser_that_accepts_it(learner: Learner) -> None:
    desk = learner.client.get("/", follow=True)
    address = desk.redirect_chain[-1][0] if desk.redirect_chain else "/"

    zipped = learner.client.get(address, headers=GZIP)
    plain = learner.client.get(address)

    assert zipped.status_code == plain.status_code == 200
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    page = gzip.decompress(_body(zipped)).decode()
    assert page.startswith("<!doctype html>")
    assert len(_body(zipped)) * 3 < len(page)
    assert "Content-Encoding" not in plain
    # The CSRF token differs in every answer (Django masks it anew), so a page's gzipped
    # size tells nothing of it (BREACH).
    tokens = re.findall(r'"X-CSRFToken": "([^"]+)"', page + _body(plain).decode())
    assert len(tokens) == 2 and tokens[0] != tokens[1]


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_hashed_file_is_sent_gzipped_in_one_piece_without_a_warning(
    seeded: None, recwarn: pytest.WarningsRecorder
) -> None:
    from sandbox.asgi import router

    address = staticfiles_storage.url("js/desk.js")
    scope = http_scope("GET", address, [(b"accept-encoding", b"gzip")])
    communicator = ApplicationCommunicator(router, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})

    start = await communicator.receive_output(10)
    body = await communicator.receive_output(10)

    headers = {name.lower(): value for name, value in start["headers"]}
    assert start["status"] == 200
    assert headers[b"content-encoding"] == b"gzip"
    assert headers[b"cache-control"] == YEARS.encode()
    assert not body.get("more_body")
    assert gzip.decompress(body["body"]) == (ROOT / "static" / "js" / "desk.js").read_bytes()
    # Django reads a streamed file in a thread of its own under ASGI, and warns.
    assert [str(w.message) for w in recwarn] == []


# ---------------------------------------------------------------- the startup check


def test_collected_files_pass_the_startup_check() -> None:
    assert static_files_problem() is None


def test_the_server_refuses_to_start_without_collected_files(
    tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.STATIC_ROOT = tmp_path

    with pytest.raises(SystemExit) as exit:
        check_static_files_or_exit()

    assert exit.value.code == 1
    assert capsys.readouterr().err == (
        f"The static files are not collected in {tmp_path}. Collect them first: "
        ".venv/bin/python manage.py collectstatic --noinput (make run does it).\n"
        "The sandbox did not start.\n"
    )


@pytest.mark.parametrize("manifest", ["", "not json", "[]", '{"paths": 3}'])
def test_a_broken_list_of_collected_files_is_not_collected(
    tmp_path: Path, settings: Any, manifest: str
) -> None:
    (tmp_path / "staticfiles.json").write_text(manifest)
    settings.STATIC_ROOT = tmp_path

    problem = static_files_problem()

    assert problem is not None
    assert problem.startswith(f"The static files are not collected in {tmp_path}.")


def test_a_collection_without_a_new_file_is_out_of_date(tmp_path: Path, settings: Any) -> None:
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--noinput", verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())
    assert static_files_problem() is None
    del manifest["paths"]["favicon.svg"]
    (tmp_path / "staticfiles.json").write_text(json.dumps(manifest))

    problem = static_files_problem()

    assert problem == (
        f"The static files collected in {tmp_path} are out of date (favicon.svg is not "
        "among them). Collect them again: .venv/bin/python manage.py collectstatic "
        "--noinput (make run does it)."
    )
