"""Time as the domain speaks it: always timezone-aware, shown in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from warroom.domain.errors import BadInput


def utc_text(moment: datetime | None, *, seconds: bool = False) -> str:
    """``2026-03-02 10:31 UTC``: the form of the status-update template (``seconds``:
    ``10:31:05``, for a message comparing two times that may fall in one minute)."""
    if moment is None:
        return "—"
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def as_utc(moment: datetime) -> datetime:
    """Databases may hand back naive datetimes (SQLite); they are UTC by construction here."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant that carries its UTC offset or ``Z``; anything else is refused."""
    cleaned = text.strip()
    try:
        moment = datetime.fromisoformat(cleaned)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 with an offset, e.g. 2026-03-02T10:15:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: add Z or +HH:MM, e.g. 2026-03-02T10:15:00Z")
    return moment.astimezone(UTC)


def parse_at(text: str, option: str = "--at") -> datetime:
    """:func:`parse_instant` for a value a person gave as ``option``: a slip is :class:`BadInput`
    that names the option."""
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise BadInput(f"{option}: {exc}") from None
