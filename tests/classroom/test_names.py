"""Display names and the keys that make them unique in a room (no database)."""

from __future__ import annotations

import pytest

from sandbox.classroom.names import MAX_KEY, MAX_NAME, NameRefused, clean_display_name, name_key


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("\u200bAda", "Ada"),  # zero-width space
        ("A\u200dda\u2060", "Ada"),  # zero-width joiner, word joiner
        ("Ada\u202eevil", "Adaevil"),  # a right-to-left override would turn the text round
        ("Al\u00adan", "Alan"),  # soft hyphen
        ("\ufeffAda", "Ada"),  # byte-order mark
        ("Ada\ufe0f", "Ada"),  # variation selector
        ("\uff41\uff44\uff41", "\uff41\uff44\uff41"),  # fullwidth letters are shown as typed
    ],
)
def test_invisible_characters_are_dropped_from_the_name_shown(typed: str, shown: str) -> None:
    assert clean_display_name(typed) == shown


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("Ada\x07", "A name can only have letters, digits, spaces and punctuation."),
        ("Ada\x7f", "A name can only have letters, digits, spaces and punctuation."),
        ("Ada\ue000", "A name can only have letters, digits, spaces and punctuation."),
        ("\U000e0001\U000e0041", "Enter a name the class will see, like Ada or Table 4."),
        ("\u200b", "Enter a name the class will see, like Ada or Table 4."),
        ("\u3164\u115f", "Enter a name the class will see, like Ada or Table 4."),
        ("x" * (MAX_NAME + 1), f"Keep the name to {MAX_NAME} characters at most."),
    ],
)
def test_a_name_that_breaks_the_rules_is_refused(typed: str, message: str) -> None:
    with pytest.raises(NameRefused) as refusal:
        clean_display_name(typed)
    assert str(refusal.value) == message


@pytest.mark.parametrize(
    ("names", "key"),
    [
        (["Ada", "ADA", "\uff41\uff44\uff41", "\uff21\uff24\uff21"], "ada"),
        (["Straße", "STRASSE", "strasse"], "strasse"),
        (["\ufb01ona", "Fiona"], "fiona"),
        (["Zoë", "Zoe\u0308", "ZOË"], "zoë"),
        (["Table 4", "TABLE \uff14", "Table\u30004"], "table 4"),
        (["x²", "x2"], "x2"),
        (["\u212bngström", "Ångström"], "ångström"),  # the angstrom sign
    ],
)
def test_names_that_read_the_same_have_one_key(names: list[str], key: str) -> None:
    assert {name_key(clean_display_name(name)) for name in names} == {key}


def test_different_names_keep_different_keys() -> None:
    names = ["Ada", "Adam", "Ada L", "Àda", "Αda"]  # the last has a Greek capital alpha
    assert len({name_key(name) for name in names}) == len(names)


def test_the_longest_key_fits_its_column() -> None:
    longest = "\ufdfa" * MAX_NAME  # NFKC writes U+FDFA out as 18 characters
    assert len(name_key(clean_display_name(longest))) <= MAX_KEY
