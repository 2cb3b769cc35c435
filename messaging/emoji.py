"""Which reactions are emoji: Unicode's emoji data, as kept by the maintained `emoji` package.

A reaction is one emoji (a skin tone, a flag, a ZWJ family are one), stored in its fully
qualified form so that "❤" and "❤️" count as the same reaction.
"""

import functools

import emoji as emoji_data

FULLY_QUALIFIED = emoji_data.STATUS["fully_qualified"]
COMPONENT = emoji_data.STATUS["component"]
VARIATION_SELECTOR = "\ufe0f"
# Skin tone modifiers: the picker offers the base emoji; a typed or pasted toned one is accepted.
SKIN_TONES = {chr(code) for code in range(0x1F3FB, 0x1F400)}


@functools.cache
def _fully_qualified_forms() -> dict[str, str]:
    """Each emoji without its variation selectors → its fully qualified form. Unqualified and
    minimally qualified forms ("1⃣", "❤‍🔥") differ from it only in those selectors."""
    return {
        text.replace(VARIATION_SELECTOR, ""): text
        for text, entry in emoji_data.EMOJI_DATA.items()
        if entry["status"] == FULLY_QUALIFIED
    }


def normalize(text: str) -> str | None:
    """The fully qualified form of `text` if it is exactly one emoji, else None (a skin tone or
    hair component on its own is not one)."""
    if not isinstance(text, str) or not text or len(text) > 16:
        return None
    entry = emoji_data.EMOJI_DATA.get(text)
    if entry is None or entry["status"] == COMPONENT:
        return None
    return _fully_qualified_forms().get(text.replace(VARIATION_SELECTOR, ""), text)


def is_emoji(text: str) -> bool:
    return normalize(text) is not None


def _name(code: str) -> str:
    return code.strip(":").replace("_", " ")


@functools.cache
def emoji_catalogue() -> list[dict]:
    """Every fully qualified emoji without a skin tone, with its name and aliases, for the picker."""
    catalogue = []
    for text, entry in emoji_data.EMOJI_DATA.items():
        if entry["status"] != FULLY_QUALIFIED or SKIN_TONES.intersection(text):
            continue
        aliases = [_name(alias) for alias in entry.get("alias", ())]
        catalogue.append({"emoji": text, "name": _name(entry["en"]), "aliases": aliases})
    return catalogue
