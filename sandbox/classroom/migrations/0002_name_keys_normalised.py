"""Names are unique after Unicode normalisation: the key of every member is rebuilt with
``names.name_key`` (NFKC and case folded, so 'ａｄａ' is 'ada'), in a column long enough
for it. Two members who joined one room under names that are now the same keep their
accounts and names: the later one's key gets a suffix no name can produce (a private-use
character and its id), and nobody new can take that name."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from sandbox.classroom.names import name_key

APART = "\ue000"  # private use: refused in names, so never part of a name's key


def _rekey(apps: Any, key_of: Any, size: int) -> None:
    member_model = apps.get_model("classroom", "RoomMember")
    members = list(member_model.objects.order_by("room_id", "joined_at", "pk"))
    # Every key out of the way first, so that no new key meets an old one mid-way.
    for member in members:
        member_model.objects.filter(pk=member.pk).update(name_key=f"{APART}{member.pk}")
    taken: set[tuple[int, str]] = set()
    for member in members:
        key = key_of(member.display_name)
        if (member.room_id, key) in taken:
            suffix = f"{APART}{member.pk}"
            key = key[: size - len(suffix)] + suffix
        taken.add((member.room_id, key))
        member_model.objects.filter(pk=member.pk).update(name_key=key)


def forwards(apps: Any, schema_editor: Any) -> None:
    _rekey(apps, name_key, 500)


def backwards(apps: Any, schema_editor: Any) -> None:
    _rekey(apps, lambda name: name.casefold()[:24], 24)


class Migration(migrations.Migration):
    dependencies = [
        ("classroom", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="roommember",
            name="name_key",
            field=models.CharField(max_length=500),
        ),
        migrations.RunPython(forwards, backwards),
    ]
