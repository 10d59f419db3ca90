"""Fixtures for the web layer: built-in instruments, and a learner with a browser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sandbox.desk import services
from sandbox.desk.models import PaperAccount


@pytest.fixture
def seeded(db: None) -> None:
    services.instruments_seed()


@dataclass
class Learner:
    """A browser that has visited the sandbox, and the paper account it was given."""

    client: Client
    account: PaperAccount

    def url(self, name: str, symbol: str = "XBTUSDT", **kwargs: Any) -> str:
        if name == "account_reset":
            return reverse(name, kwargs={"account_id": self.account.pk})
        return reverse(name, kwargs={"account_id": self.account.pk, "symbol": symbol, **kwargs})

    def post(
        self, name: str, data: dict[str, Any], symbol: str = "XBTUSDT", htmx: bool = False
    ) -> Any:
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.post(self.url(name, symbol), data, headers=headers)

    def get(
        self,
        name: str,
        data: dict[str, Any] | None = None,
        symbol: str = "XBTUSDT",
        htmx: bool = False,
        target: str = "",
    ) -> Any:
        headers = {"HX-Request": "true"} if htmx else {}
        if target:
            headers["HX-Target"] = target
        return self.client.get(self.url(name, symbol), data or {}, headers=headers)


def make_learner() -> Learner:
    client = Client()
    client.get("/")
    account = PaperAccount.objects.order_by("-id").first()
    assert account is not None
    return Learner(client, account)


@pytest.fixture
def learner(seeded: None) -> Learner:
    return make_learner()


@pytest.fixture
def other_learner(seeded: None, learner: Learner) -> Learner:
    return make_learner()
