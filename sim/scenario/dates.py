"""Calendar dates in a scenario file, read as clock times.

With ``clock.start``, a time may be written as an ISO date (``2025-01-20``, quoted
or not: the YAML 1.2 reader keeps it as text): it stands for the days since the
start divided by the length of the clock's unit in days. A :class:`Calendar` turns
such a text into its clock time, or says in one sentence why it cannot.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["UNIT_DAYS", "Calendar", "DateError", "date_in_text", "looks_like_date"]

UNIT_DAYS = {"day": 1.0, "days": 1.0, "week": 7.0, "weeks": 7.0, "hour": 1 / 24,
             "hours": 1 / 24}
"""The length of each clock unit that dates can be used with, in days."""

_DATE = re.compile(r"^\s*([0-9]{4,})-([0-9]{1,2})-([0-9]{1,2})([Tt ][0-9:.+Zz -]*)?\s*$")
_IN_TEXT = re.compile(r"(?<![\w.])[0-9]{4,}-[0-9]{1,2}-[0-9]{1,2}(?![\w.])")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class DateError(ValueError):
    """A date that cannot stand for a clock time here; the message says why."""


def looks_like_date(value: Any) -> bool:
    """True for a date object or a text shaped like a date (``YYYY-MM-DD``, also with
    a short month or day or a time of day, so that ``2025-1-5`` or ``2025-01-05T10:00``
    is refused as a date, never read as a subtraction)."""
    if isinstance(value, dt.date):
        return True
    return isinstance(value, str) and _DATE.match(value) is not None


def date_in_text(text: str) -> tuple[int, str] | None:
    """The offset and text of a bare date inside an expression (quotes skipped), or None."""
    blanked = _QUOTED.sub(lambda m: " " * len(m.group()), text)
    found = _IN_TEXT.search(blanked)
    return None if found is None else (found.start(), found.group())


def parse_date(value: Any) -> dt.date:
    """A date from ``YYYY-MM-DD`` text (or a date object); :class:`DateError` otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = _DATE.match(str(value).strip())
    if match is None:
        raise DateError(f"'{value}' is not a date: write YYYY-MM-DD")
    year, month, day = (int(g) for g in match.groups()[:3])
    text = str(value).strip()
    if match.group(4):
        raise DateError(f"'{text}' is not a date: write YYYY-MM-DD, without a time of day")
    if not 1 <= year <= 9999:
        raise DateError(f"'{text}' is outside the dates that can be used (years 0001 "
                        f"to 9999)")
    if len(match.group(2)) != 2 or len(match.group(3)) != 2:
        raise DateError(f"'{text}' is not a date: write YYYY-MM-DD, with two-digit month "
                        f"and day")
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise DateError(f"'{text}' is not a date ({exc})") from None


@dataclass(frozen=True)
class Calendar:
    """The clock a scenario's dates are read against.

    ``known`` is False when the clock itself is invalid (its problem is reported
    elsewhere): dates then read as 0 and are not checked, so one bad clock does not
    turn every date of the file into a second problem.
    """

    start: dt.date | None = None
    unit: str = "day"
    horizon: float = float("inf")
    known: bool = True

    @classmethod
    def of(cls, clock: Any) -> Calendar:
        """The calendar of a validated ``Clock`` (``None``: an invalid clock)."""
        if clock is None:
            return cls(known=False)
        return cls(clock.start, str(clock.unit), float(clock.horizon))

    def time_of(self, value: Any) -> float:
        """The clock time of a date; :class:`DateError` says why it has none."""
        if not self.known:
            return 0.0
        if self.start is None:
            raise DateError(f"a date ({str(value).strip()}) needs clock.start, the date of "
                            f"time 0: add start: YYYY-MM-DD to clock, or write the time in "
                            f"{self.unit}s")
        day = parse_date(value)
        days = UNIT_DAYS.get(self.unit)
        if days is None:
            raise DateError(f"dates need a clock unit of day, week or hour; the clock's "
                            f"unit is '{self.unit}'")
        if day < self.start:
            raise DateError(f"{day.isoformat()} is before the clock's start "
                            f"({self.start.isoformat()})")
        return (day - self.start).days / days

    def beyond(self, t: float) -> bool:
        """True for a time after the horizon (a run never gets there)."""
        return self.known and t > self.horizon

    def shown(self, t: float) -> str:
        """The horizon (or any time) as ``t=365 (2025-11-19)`` for messages."""
        if self.start is None or self.unit not in UNIT_DAYS:
            return f"t={t:g}"
        try:
            day = self.start + dt.timedelta(days=round(t * UNIT_DAYS[self.unit], 6))
        except OverflowError:
            return f"t={t:g}"
        return f"t={t:g}, {day.isoformat()}"
