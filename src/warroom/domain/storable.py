"""What every text a client sends must be before it is stored, whichever way it came in (a
JSON body, an imported file): no NUL character, which no database stores faithfully
(PostgreSQL refuses it), and no text longer than ``LONGEST_TEXT``."""

from __future__ import annotations

from typing import Any

LONGEST_TEXT = 100_000  # no string in any request is longer (a customer e-mail's body is)


def check_storable(value: Any, where: str, *, longest: int | None = LONGEST_TEXT) -> None:
    """Raise ``ValueError`` naming the place (``where``, then keys and indexes) of the first
    text, however deep, that cannot be stored. ``longest=None``: any length (a caller that
    bounds the whole body instead)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where} contains a NUL character")
        if longest is not None and len(value) > longest:
            raise ValueError(f"{where} is longer than {longest} characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, where, longest=longest)
            check_storable(item, f"{where}.{key}", longest=longest)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_storable(item, f"{where}[{index}]", longest=longest)
