"""Learners' display names: what is shown, and the key that makes names unique in a room.

Pure Python (the migration that rebuilt the keys of existing members uses it too).
"""

from __future__ import annotations

import unicodedata

MAX_NAME = 24
# NFKC can turn one character into 18 (U+FDFA), casefolding 'ß' into 'ss': room for any
# name of MAX_NAME characters, and for the suffix that kept two old members apart.
MAX_KEY = 500
# Characters that show nothing and are not format characters (Unicode's default
# ignorables outside category Cf): variation selectors, the combining grapheme joiner,
# the Hangul fillers, the Khmer inherent vowels, the Mongolian free variation selectors.
INVISIBLE = frozenset(
    [chr(c) for c in range(0xFE00, 0xFE10)]
    + [chr(c) for c in range(0xE0100, 0xE01F0)]
    + ["\u034f", "\u115f", "\u1160", "\u3164", "\uffa0", "\u17b4", "\u17b5"]
    + ["\u180b", "\u180c", "\u180d", "\u180f"]
)


class NameRefused(ValueError):
    """A display name the room cannot take; the message says what to do."""


def _shown(c: str) -> bool:
    """False for format characters (zero-width spaces and joiners, direction marks and
    overrides, soft hyphens) and the other invisible ones: they are dropped."""
    return unicodedata.category(c) != "Cf" and c not in INVISIBLE


def clean_display_name(raw: str) -> str:
    """A display name as shown: invisible characters dropped, trimmed, spaces folded; a
    control character (or a private-use, unassigned or surrogate one) is refused."""
    name = " ".join("".join(c for c in raw if _shown(c)).split())
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise NameRefused("A name can only have letters, digits, spaces and punctuation.")
    if not name:
        raise NameRefused("Enter a name the class will see, like Ada or Table 4.")
    if len(name) > MAX_NAME:
        raise NameRefused(f"Keep the name to {MAX_NAME} characters at most.")
    return name


def name_key(name: str) -> str:
    """The name as compared for uniqueness: compatibility forms (fullwidth 'ａｄａ', the
    ligature 'ﬁ') read as the plain letters, case folded ('Straße' is 'STRASSE'),
    invisible characters dropped and spaces folded (Unicode's NFKC_Casefold, closely)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join("".join(c for c in folded if _shown(c)).split())
