"""A payout period: one calendar month in UTC, written YYYY-MM."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd

from payouts.errors import InputError

_PERIOD = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.fullmatch(text.strip()) if isinstance(text, str) else None
        if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 2000:
            raise InputError(
                f"period {text!r} is not a month",
                column="--period",
                fix="write the period as YYYY-MM, e.g. 2026-10",
            )
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    @property
    def start_ts(self) -> pd.Timestamp:
        return pd.Timestamp(self.first_day)

    @property
    def end_ts(self) -> pd.Timestamp:
        return pd.Timestamp(self.last_day)

    @property
    def end_ms(self) -> int:
        """Milliseconds since the epoch of the period's end (first instant of the next month, UTC).

        Used as the Transaction Builder's `createdAt`, so batch files never carry the wall clock.
        """
        nxt = date(self.year + (self.month == 12), self.month % 12 + 1, 1)
        return int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=UTC).timestamp()) * 1000

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)
