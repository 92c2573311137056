"""The cron subset freeze windows use, in the standard library only.

Five fields, `minute hour day-of-month month day-of-week`, each a comma list of `*`, `N`, `A-B`,
with an optional `/STEP` (`*/15`, `1-5/2`, `5/20`); month and weekday names (`jan`, `fri`);
weekday 0 or 7 is Sunday; `?` means `*` in the day fields; the macros `@yearly`, `@annually`,
`@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`. When both day fields are restricted a
day matches either (as in croniter, which the policy used before the core had to
be import-pure; tests/bot/core/test_cron.py checks both agree). Anything else (`L`, `W`, `#`,
seconds, `H`) is refused with a message naming the field, when promotion.yaml is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: Sequence[str] = ()
    names_from: int = 0

    def value(self, text: str) -> int:
        lowered = text.lower()
        if lowered in self.names:
            return self.names.index(lowered) + self.names_from
        if not text.isdigit():
            raise ValueError(f"{self.name}: {text!r} is not a number")
        number = int(text)
        if not self.low <= number <= self.high:
            raise ValueError(f"{self.name}: {number} is outside {self.low}-{self.high}")
        return number

    def parse(self, text: str) -> frozenset[int]:
        values: set[int] = set()
        for item in text.split(","):
            span, _, step_text = item.partition("/")
            step = 1
            if step_text:
                if not step_text.isdigit() or int(step_text) == 0:
                    raise ValueError(f"{self.name}: invalid step in {item!r}")
                step = int(step_text)
            if span in ("*", "?"):
                start, end = self.low, self.high
            elif "-" in span:
                first, _, last = span.partition("-")
                start, end = self.value(first), self.value(last)
                if start > end:
                    raise ValueError(f"{self.name}: range {span!r} runs backwards")
            else:
                start = self.value(span)
                end = self.high if step_text else start
            values.update(range(start, end + 1, step))
        return frozenset(values)


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day of week", 0, 7, _DAYS, 0),
)


def _day_star(text: str, every_day: bool, other: str) -> bool:
    """Whether a day field counts as `*` for the either-day rule, as croniter decides: it has a
    bare `*` item, or it names every day while the other day field has a `*` in it."""
    return bool({"*", "?"} & set(text.split(","))) or (every_day and "*" in other)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed five-field cron expression; `CronSchedule.parse(text)` raises ValueError."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday, as `datetime.weekday()`
    days_or: bool  # both day fields restricted: a day matching either fires

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        expanded = _MACROS.get(text.strip().lower(), text)
        parts = expanded.split()
        if len(parts) != len(_FIELDS):
            raise ValueError(f"expected 5 fields (minute hour day month weekday), got {text!r}")
        minutes, hours, days, months, cron_days = (
            spec.parse(part) for spec, part in zip(_FIELDS, parts, strict=True)
        )
        weekdays = frozenset((d - 1) % 7 for d in cron_days)
        return cls(
            text=text,
            minutes=minutes,
            hours=hours,
            days=days,
            months=months,
            weekdays=weekdays,
            days_or=not _day_star(parts[2], len(days) == 31, parts[4])
            and not _day_star(parts[4], len(weekdays) == 7, parts[2]),
        )

    def _day_matches(self, when: datetime) -> bool:
        in_month = when.day in self.days
        in_week = when.weekday() in self.weekdays
        return (in_month or in_week) if self.days_or else (in_month and in_week)

    def latest_fire(self, at: datetime, after: datetime) -> datetime | None:
        """The latest fire time at or before `at` and later than `after` (both naive wall-clock
        times), or None when the schedule does not fire in between."""
        when = at.replace(second=0, microsecond=0)
        while when > after:
            if when.month not in self.months:
                when = when.replace(day=1, hour=0, minute=0) - timedelta(minutes=1)
            elif not self._day_matches(when):
                when = when.replace(hour=0, minute=0) - timedelta(minutes=1)
            elif when.hour not in self.hours:
                when = when.replace(minute=0) - timedelta(minutes=1)
            else:
                earlier = [m for m in self.minutes if m <= when.minute]
                if earlier:
                    fire = when.replace(minute=max(earlier))
                    return fire if fire > after else None
                when = when.replace(minute=0) - timedelta(minutes=1)
        return None
