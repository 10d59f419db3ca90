"""Which paper account a request may use.

A first visit creates a paper account tied to the browser by a signed cookie, with no
sign-up. Signing up (or logging in, for a user with no account yet) attaches that
account to the user, so it is kept. A signed-in user uses their own accounts only; an
anonymous browser uses only the unclaimed account its cookie names. Anything else is a 404.
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse

from .models import Market, PaperAccount
from .selectors import kept_sql, read_models
from .services import account_create

COOKIE = "sandbox_account"
COOKIE_AGE = 365 * 24 * 3600


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt="sandbox.desk.browser-account")


def _unsign(raw: str | None) -> str | None:
    """The browser key in a cookie value, if its signature holds."""
    if not raw:
        return None
    try:
        return _signer().unsign(raw, max_age=COOKIE_AGE)
    except signing.BadSignature:
        return None


def _browser_key(request: HttpRequest) -> str | None:
    return _unsign(request.COOKIES.get(COOKIE))


def _browser_account(request: HttpRequest) -> PaperAccount | None:
    key = _browser_key(request)
    if not key:
        return None
    return _unclaimed(key)


def _unclaimed(key: str) -> PaperAccount | None:
    """The unclaimed account a browser key names, with its market: what every request of
    a browser without sign-up asks first. Django's query of it (``select_related``) is
    built once, and its row made into the two models as Django makes them."""
    for account, market in read_models(_unclaimed_statement(), key, _KINDS):
        account.market = market
        return account  # type: ignore[no-any-return]
    return None


_KEY = "\x00browser-key"  # a value no browser key has, its place in the statement
_KINDS = (PaperAccount, Market)


@functools.cache
def _unclaimed_statement() -> str:
    """The SQL of the account's query, built by Django once: building a query took a
    third of a slider preview's time, running it a tenth of that. Checked as it is built:
    it reads the account's fields then its market's, in their order, given the key."""
    rows = PaperAccount.objects.select_related("market").order_by()
    rows = rows.filter(browser_key=_KEY, user__isnull=True)
    return kept_sql(rows, _KEY, _KINDS, "a browser's account")


ROOM_COOKIE = "sandbox_room_"


def room_cookie(room_id: int) -> str:
    return f"{ROOM_COOKIE}{room_id}"


def _room_keys(cookies: Any) -> list[str]:
    """Browser keys of the classroom accounts this browser joined (one cookie a room)."""
    keys = []
    for name, raw in cookies.items():
        if name.startswith(ROOM_COOKIE):
            key = _unsign(raw)
            if key:
                keys.append(key)
    return keys


def _room_accounts(cookies: Any) -> list[PaperAccount]:
    keys = _room_keys(cookies)
    if not keys:
        return []
    rows = PaperAccount.objects.select_related("market")
    return list(rows.filter(browser_key__in=keys, user__isnull=True))


def owned_accounts(request: HttpRequest) -> list[PaperAccount]:
    """Every account this request may use: the user's own (or the browser's practice
    account), and the classroom accounts this browser joined."""
    rooms = _room_accounts(request.COOKIES)
    if request.user.is_authenticated:
        mine = PaperAccount.objects.select_related("market").filter(user=request.user)
        return list(mine.order_by("-id")) + rooms
    account = _browser_account(request)
    return ([account] if account else []) + rooms


def current_account(request: HttpRequest) -> PaperAccount:
    """The account this browser or user trades with, created on first visit."""
    if request.user.is_authenticated:
        mine = PaperAccount.objects.filter(user=request.user).order_by("-id").first()
        if mine:
            return mine
        unclaimed = _browser_account(request)
        if unclaimed:
            claim_browser_account(request)
            unclaimed.refresh_from_db()
            return unclaimed
        return account_create(user=request.user)
    return _browser_account(request) or account_create()


def claim_browser_account(request: HttpRequest) -> None:
    """Attach the browser's unclaimed account to the signed-in user (sign-up keeps it)."""
    account = _browser_account(request)
    if account is not None and request.user.is_authenticated:
        account.user_id = request.user.pk
        account.save(update_fields=["user"])


def room_account(request: HttpRequest, room_id: int) -> PaperAccount | None:
    """The account this browser already has in a room, if any (rejoining returns to it)."""
    key = _unsign(request.COOKIES.get(room_cookie(room_id)))
    if key is None:
        return None
    return _unclaimed(key)


def remember_room(response: HttpResponse, room_id: int, account: PaperAccount) -> None:
    response.set_cookie(
        room_cookie(room_id),
        _signer().sign(account.browser_key),
        max_age=COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.SANDBOX_HTTPS,  # over HTTPS, never sent in clear
    )


def remember(response: HttpResponse, account: PaperAccount) -> None:
    response.set_cookie(
        COOKIE,
        _signer().sign(account.browser_key),
        max_age=COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.SANDBOX_HTTPS,  # over HTTPS, never sent in clear
    )


def account_for_scope(scope: dict[str, Any], account_id: int) -> PaperAccount | None:
    """The same rule for a websocket: the signed-in user's account, or the browser's, and
    (as for a page) the accounts that belong to one of them: a side-by-side twin, a lesson
    task's desk.

    ``scope`` carries the user and the cookies (put there by the origin check,
    :func:`sandbox.sockets.with_user`, as Channels' AuthMiddlewareStack did).
    """
    owned = _owned_for_scope(scope, account_id)
    if owned is not None:
        return owned
    child = PaperAccount.objects.filter(pk=account_id, parent__isnull=False).first()
    if child is not None and child.parent_id and _owned_for_scope(scope, child.parent_id):
        return child
    return None


def _owned_for_scope(scope: dict[str, Any], account_id: int) -> PaperAccount | None:
    cookies = scope.get("cookies", {})
    for room_account in _room_accounts(cookies):
        if room_account.pk == account_id:
            return room_account
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return PaperAccount.objects.filter(pk=account_id, user=user).first()
    key = _unsign(cookies.get(COOKIE))
    if key is None:
        return None
    return PaperAccount.objects.filter(pk=account_id, browser_key=key, user__isnull=True).first()


def twins_for_scope(scope: dict[str, Any], account_id: int, market_id: int) -> list[PaperAccount]:
    """The side-by-side twins on ``market_id`` of an account this websocket may watch."""
    owner = account_for_scope(scope, account_id)
    if owner is None:
        return []
    return list(owner.twins.filter(market_id=market_id).order_by("pk"))


def get_account_for_request(request: HttpRequest, account_id: int) -> PaperAccount:
    """The account named in the URL if this request may use it; 404 otherwise.

    A learner's side-by-side twins are theirs too.
    """
    for account in owned_accounts(request):
        if account.pk == account_id:
            return account
        twin = account.twins.select_related("market").filter(pk=account_id).first()
        if twin is not None:
            return twin
    raise Http404("No such paper account.")
