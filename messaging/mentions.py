"""The @mention grammar: which names a message body mentions."""

import re

# `@` at the start or after anything that is not a word character (so `bob@example.com` is an
# address, not a mention), followed by Django's username characters but `@`, which starts the
# next mention (`@bob.@carol`, `@@bob`). tests/mention_cases.json holds the cases that this and
# static/js/mentions.js must both get right.
MENTION_PATTERN = re.compile(r"(?<!\w)@([\w.+-]+)")
# Sentence punctuation right after a name ends the sentence, not the name.
TRAILING_PUNCTUATION = ".,:;!?)"
# Bounds the one resolving query; nobody needs to mention more people than this in a message.
MAX_MENTIONS = 50


def parse_mentions(body: str) -> list[str]:
    """Case-folded mentioned names in order of first appearance, without repeats."""
    names: dict[str, None] = {}
    for match in MENTION_PATTERN.finditer(body):
        name = match.group(1).rstrip(TRAILING_PUNCTUATION).casefold()
        if name:
            names.setdefault(name, None)
        if len(names) >= MAX_MENTIONS:
            break
    return list(names)
