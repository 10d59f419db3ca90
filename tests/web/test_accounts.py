"""Signing up keeps the browser's account; logging out and in again moves between them."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.test import Client

from sandbox.desk.accounts import COOKIE
from sandbox.desk.models import PaperAccount, Position, Wallet
from tests.web.conftest import Learner
from tests.web.desks import desk_url, figure_of, page

D = Decimal
PASSWORD = "a-long-sandbox-passphrase-41"


def sign_up(client: Client, username: str = "ada") -> None:
    response = client.post(
        "/signup/", {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == "/"


def log_out(client: Client) -> None:
    assert client.post("/logout/").status_code == 302


def log_in(client: Client, username: str = "ada") -> None:
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]


def home(client: Client) -> str:
    response = client.get("/")
    assert response.status_code == 302
    location: str = response["Location"]
    return location


def test_signup_page(learner: Learner) -> None:
    response = learner.client.get("/signup/")

    assert response.status_code == 200
    assert "Signing up keeps the paper account you are using in this browser" in page(response)
    assert 'name="username"' in page(response)


def test_signup_keeps_the_browsers_account(learner: Learner) -> None:
    learner.post("order_submit", {"side": "buy", "qty": "0.1"})
    accounts = PaperAccount.objects.count()

    sign_up(learner.client)

    user = get_user_model().objects.get(username="ada")
    account = PaperAccount.objects.get(pk=learner.account.pk)
    assert account.user_id == user.pk
    assert PaperAccount.objects.count() == accounts  # kept, not replaced
    # "/" still leads to the same desk, with the same trade on it.
    assert home(learner.client) == desk_url(account)
    desk = learner.client.get(desk_url(account))
    assert desk.status_code == 200
    assert "Signed up: your paper account is now kept under your name." in page(desk)
    assert "Signed in as ada" in page(desk)
    assert figure_of(desk, "wallet-USDT") == "9,997"  # 10,000 − the fee of 3
    assert Position.objects.get(account=account).qty == D("0.1")


def test_a_refused_signup_keeps_the_account_anonymous(learner: Learner) -> None:
    response = learner.client.post(
        "/signup/", {"username": "ada", "password1": PASSWORD, "password2": "different"}
    )

    assert response.status_code == 200
    assert "The two password fields didn’t match." in page(response)
    assert PaperAccount.objects.get(pk=learner.account.pk).user is None
    assert not get_user_model().objects.exists()


def test_logging_out_gives_a_fresh_anonymous_account(learner: Learner) -> None:
    learner.post("order_submit", {"side": "buy", "qty": "0.1"})
    sign_up(learner.client)

    log_out(learner.client)
    location = home(learner.client)

    fresh = PaperAccount.objects.order_by("-id").first()
    assert fresh is not None
    assert fresh.pk != learner.account.pk
    assert fresh.user is None
    assert location == desk_url(fresh)
    assert Wallet.objects.get(account=fresh, currency="USDT").balance == D("10000")
    assert not Position.objects.filter(account=fresh).exists()
    # The kept account is not reachable anonymously.
    assert learner.client.get(desk_url(learner.account)).status_code == 404
    assert learner.client.get(location).status_code == 200


def test_logging_back_in_returns_the_kept_account(learner: Learner) -> None:
    sign_up(learner.client)
    log_out(learner.client)
    home(learner.client)  # a fresh anonymous account for this browser

    log_in(learner.client)

    assert home(learner.client) == desk_url(learner.account)
    assert learner.client.get(desk_url(learner.account)).status_code == 200


def test_logging_in_on_another_browser_returns_the_kept_account(learner: Learner) -> None:
    sign_up(learner.client)
    elsewhere = Client()

    log_in(elsewhere)

    assert home(elsewhere) == desk_url(learner.account)
    assert (
        elsewhere.post(f"/desk/{learner.account.pk}/XBTUSDT/mark/", {"price": "61000"}).status_code
        == 302
    )
    assert PaperAccount.objects.filter(user__isnull=False).count() == 1


def test_a_user_with_no_account_logging_in_claims_the_browsers_account(
    learner: Learner,
) -> None:
    get_user_model().objects.create_user("grace", password=PASSWORD)

    log_in(learner.client, "grace")

    assert home(learner.client) == desk_url(learner.account)
    assert PaperAccount.objects.get(pk=learner.account.pk).user.username == "grace"  # type: ignore[union-attr]


def test_a_logged_in_user_cannot_open_an_anonymous_browser_account(
    learner: Learner, other_learner: Learner
) -> None:
    sign_up(learner.client)

    response = learner.client.get(desk_url(other_learner.account))

    assert response.status_code == 404
    assert (
        learner.client.post(
            f"/desk/{other_learner.account.pk}/XBTUSDT/mark/", {"price": "1"}
        ).status_code
        == 404
    )
    assert other_learner.client.get(desk_url(other_learner.account)).status_code == 200


def test_a_logged_in_user_cannot_open_this_browsers_new_anonymous_account(
    learner: Learner,
) -> None:
    sign_up(learner.client)
    log_out(learner.client)
    anonymous = home(learner.client)
    log_in(learner.client)

    # The browser's cookie still names the anonymous account, but the user does not own it.
    assert learner.client.cookies[COOKIE].value
    assert learner.client.get(anonymous).status_code == 404


def test_another_user_cannot_open_a_kept_account(learner: Learner) -> None:
    sign_up(learner.client)
    stranger = Client()
    sign_up(stranger, "mallory")

    assert stranger.get(desk_url(learner.account)).status_code == 404
    assert (
        stranger.post(
            f"/desk/{learner.account.pk}/XBTUSDT/order/", {"side": "buy", "qty": "1"}
        ).status_code
        == 404
    )
    assert not Position.objects.filter(account=learner.account).exists()


def test_the_browsers_account_is_read_with_its_market_as_django_reads_them(
    learner: Learner,
) -> None:
    """The unclaimed account a browser key names is read by statements built once: every
    field of the account and of its market as Django's own query gives them (read afresh
    each time), none for a key no unclaimed account has, and none once it is claimed."""
    from django.forms.models import model_to_dict

    from sandbox.desk.accounts import _unclaimed
    from sandbox.desk.models import Market

    key = learner.account.browser_key
    Market.objects.filter(pk=learner.account.market_id).update(
        fees_enabled=False, max_leverage_cap=Decimal("12.5"), symbols=["XBTUSDT"]
    )
    found = _unclaimed(key)
    expected = PaperAccount.objects.select_related("market").get(pk=learner.account.pk)
    assert found is not None
    assert model_to_dict(found) == model_to_dict(expected)
    assert found.created_at == expected.created_at
    assert found.market.max_leverage_cap == Decimal("12.5")
    assert found.market.fees_enabled is False and found.market.running is True
    assert found.cross_linked is False and found.user_id is None
    assert model_to_dict(found.market) == model_to_dict(expected.market)
    assert (found.market.created_at, found.market.symbols) == (
        expected.market.created_at,
        ["XBTUSDT"],
    )
    assert _unclaimed(key + "x") is None
    user = get_user_model().objects.create_user("ada", password=PASSWORD)
    PaperAccount.objects.filter(pk=learner.account.pk).update(user=user)
    assert _unclaimed(key) is None
