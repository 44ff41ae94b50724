"""Text from the bucket (shard keys, the reasons that quote them) inside the markdown the
Prefect UI renders: a key becomes a code span and a reason plain text, so that a key such as
``x](https://evil.example)`` or one holding a newline and ``# …`` adds no link, image, HTML,
heading or list of its own to a run's page."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TICKS = re.compile(r"`+")


def _flat(text: str) -> str:
    """Control characters (a newline would end the line and start a block) as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def code(text: str) -> str:
    """`text` as one code span: fenced by more backticks than any run inside it."""
    text = _flat(text)
    fence = "`" * (max(map(len, _TICKS.findall(text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plain(text: str) -> str:
    """`text` shown as it is: every character markdown would read as syntax escaped."""
    return _SPECIAL.sub(r"\\\1", _flat(text))
