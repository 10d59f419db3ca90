"""The migration that rebuilt every room member's name key with the normalised names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("classroom", "0001_initial")]
AFTER = [("classroom", "0002_name_keys_normalised")]


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate the test database to ``targets``; the apps (historical models) there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_schema() -> Iterator[Any]:
    apps = migrate(BEFORE)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # back to the latest


def member(apps: Any, room: Any, name: str, key: str) -> Any:
    market = apps.get_model("desk", "Market").objects.create(name="m")
    account = apps.get_model("desk", "PaperAccount").objects.create(market=market)
    return apps.get_model("classroom", "RoomMember").objects.create(
        room=room, account=account, display_name=name, name_key=key
    )


def test_old_keys_are_rebuilt_normalised_and_old_lookalikes_kept_apart(old_schema: Any) -> None:
    apps = old_schema
    teacher = apps.get_model("auth", "User").objects.create(username="t")
    rooms = []
    for code in ("AAAAAAAA", "BBBBBBBB"):
        market = apps.get_model("desk", "Market").objects.create(name=code, kind="room")
        rooms.append(
            apps.get_model("classroom", "Room").objects.create(
                teacher=teacher, name=code, code=code, market=market
            )
        )
    # Keys as the old code wrote them: casefolded only, so 'ａｄａ' and 'Ada' both got in;
    # and 'ﬁ' whose new key 'fi' is the old key of a member who joined after it.
    first = member(apps, rooms[0], "\uff41\uff44\uff41", "\uff41\uff44\uff41")
    second = member(apps, rooms[0], "Ada", "ada")
    ligature = member(apps, rooms[0], "\ufb01", "\ufb01")
    plain = member(apps, rooms[0], "fi", "fi")
    elsewhere = member(apps, rooms[1], "Ada", "ada")

    new = migrate(AFTER)

    keys = dict(new.get_model("classroom", "RoomMember").objects.values_list("pk", "name_key"))
    assert keys[first.pk] == "ada"
    assert keys[second.pk] == f"ada\ue000{second.pk}"  # kept, apart from the first
    assert keys[ligature.pk] == "fi"
    assert keys[plain.pk] == f"fi\ue000{plain.pk}"
    assert keys[elsewhere.pk] == "ada"  # another room has its own names
    names = new.get_model("classroom", "RoomMember").objects.values_list("display_name", flat=True)
    assert sorted(names) == sorted(["\uff41\uff44\uff41", "Ada", "\ufb01", "fi", "Ada"])
