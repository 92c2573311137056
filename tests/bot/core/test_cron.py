"""bot.core.cron agrees with croniter (what freeze windows used before the core had to be
import-pure) on generated schedules and times; plus the expressions it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.cron import CronSchedule
from bot.core.policy import FreezeWindow


def _field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    number = st.integers(low, high).map(str)
    named = st.sampled_from(names) if names else number
    # a < b: croniter 7 misreads a one-value range (`* * 2-2 * *` fires every day); the core
    # does not (tested below)
    span = (
        st.tuples(st.integers(low, high), st.integers(low, high))
        .filter(lambda ab: ab[0] != ab[1])
        .map(lambda ab: f"{min(ab)}-{max(ab)}")
    )
    step = st.integers(1, max(1, high - low)).map(str)
    item = st.one_of(
        st.just("*"),
        number,
        named,
        span,
        st.tuples(st.just("*"), step).map("/".join),
        st.tuples(span, step).map("/".join),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


SCHEDULES = st.one_of(
    st.tuples(
        _field(0, 59),
        _field(0, 23),
        _field(1, 28),
        _field(1, 12, ("jan", "Jun", "DEC")),
        _field(0, 7, ("sun", "Fri", "SAT")),
    ).map(" ".join),
    st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@midnight"]),
)
NOWS = st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
)


def _reference(schedule: str, duration: timedelta, timezone: str, now: datetime):
    """The implementation before the core: croniter's previous fire time."""
    local = now.astimezone(ZoneInfo(timezone))
    start = croniter(schedule, local + timedelta(seconds=1)).get_prev(datetime)
    end = start + duration
    return end if start <= local < end else None


@settings(max_examples=300, deadline=None)
@given(
    schedule=SCHEDULES,
    minutes=st.integers(1, 20 * 24 * 60),
    timezone=st.sampled_from(["UTC", "Asia/Kolkata"]),
    now=NOWS,
)
def test_open_until_agrees_with_croniter(schedule, minutes, timezone, now):
    assert croniter.is_valid(schedule)
    duration = timedelta(minutes=minutes)
    window = FreezeWindow(schedule, duration, timezone)
    assert window.open_until(now) == _reference(schedule, duration, timezone, now), schedule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("61 * * * *", "minute: 61 is outside 0-59"),
        ("* * * *", "expected 5 fields"),
        ("0 0 * * * 2026", "expected 5 fields"),
        ("0 0 L * *", "day of month: 'L' is not a number"),
        ("0 0 * * 5#2", "day of week: '5#2' is not a number"),
        ("*/0 * * * *", "minute: invalid step"),
        ("*/x * * * *", "minute: invalid step"),
        ("5-1 * * * *", "minute: range '5-1' runs backwards"),
        ("0 0 0 * *", "day of month: 0 is outside 1-31"),
        ("0 0 * foo *", "month: 'foo' is not a number"),
        ("1,,2 * * * *", "minute: '' is not a number"),
        ("@reboot", "expected 5 fields"),
    ],
)
def test_unsupported_expressions_are_refused_naming_the_field(text: str, message: str):
    with pytest.raises(ValueError, match="^" + message.replace("*", r"\*")):
        CronSchedule.parse(text)


def test_days_are_either_when_both_fields_are_restricted():
    both = CronSchedule.parse("0 0 13 * fri")
    only_week = CronSchedule.parse("0 0 * * fri")
    assert both.days_or and not only_week.days_or
    assert CronSchedule.parse("0 0 ? * 7").weekdays == frozenset({6})  # Sunday, `?` for `*`


def test_a_one_value_range_is_that_value():
    assert CronSchedule.parse("* * 2-2 * *").days == frozenset({2})
    window = FreezeWindow("* * 2-2 * *", timedelta(minutes=1))
    assert window.open_until(datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert window.open_until(datetime(2025, 1, 2, 5, tzinfo=UTC)) is not None


def test_a_schedule_that_never_fires_leaves_the_window_closed():
    window = FreezeWindow("0 0 31 2 *", timedelta(days=400))
    assert window.open_until(datetime(2026, 3, 1, tzinfo=UTC)) is None


def test_a_window_open_at_the_last_second_before_the_next_fire():
    hourly = FreezeWindow("0 * * * *", timedelta(hours=2), name="hourly")
    # croniter counted 17:59:59.5 as "18:00 has fired, not yet open"; the core does not
    now = datetime(2026, 3, 6, 17, 59, 59, 500000, tzinfo=UTC)
    assert hourly.open_until(now) == datetime(2026, 3, 6, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration": timedelta(0)}, "duration must be positive"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"timezone": "../etc"}, "unknown time zone"),
    ],
)
def test_freeze_window_validates_at_construction(kwargs, message):
    args = {"schedule": "0 * * * *", "duration": timedelta(hours=1), **kwargs}
    with pytest.raises(ValueError, match=message):
        FreezeWindow(**args)


# Europe/Amsterdam, 2026: clocks go forward on 29 March (02:00 CET -> 03:00 CEST) and back on
# 25 October (03:00 CEST -> 02:00 CET). A window's duration is elapsed time, not wall-clock time.
AMSTERDAM = "Europe/Amsterdam"


@pytest.mark.parametrize(
    ("schedule", "hours", "now", "until"),
    [
        # fall back: opened 01:30 CEST (23:30 UTC) for 1h, so closed at 00:30 UTC; at 02:15 CET
        # (01:15 UTC) wall-clock arithmetic said "open until 02:30" = 00:30 UTC, a past time
        ("30 1 * * *", 1, datetime(2026, 10, 25, 1, 15, tzinfo=UTC), None),
        (
            "30 1 * * *",
            1,
            datetime(2026, 10, 25, 0, 15, tzinfo=UTC),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        ),
        # fall back: 02:30 fires once (the first 02:30, 00:30 UTC); 30 min later it is closed,
        # even though the wall clock shows 02:45 again
        ("30 2 * * *", 0.5, datetime(2026, 10, 25, 1, 45, tzinfo=UTC), None),
        # fall back: a fire in the repeated hour's first pass counts while the clock repeats it
        (
            "50 2 * * *",
            2,
            datetime(2026, 10, 25, 1, 10, tzinfo=UTC),
            datetime(2026, 10, 25, 2, 50, tzinfo=UTC),
        ),
        # spring forward: opened 01:30 CET (00:30 UTC) for 2h, so open until 02:30 UTC (04:30
        # CEST); wall-clock arithmetic closed it an hour early, at 03:30 CEST
        (
            "30 1 * * *",
            2,
            datetime(2026, 3, 29, 2, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 2, 30, tzinfo=UTC),
        ),
        ("30 1 * * *", 2, datetime(2026, 3, 29, 2, 30, tzinfo=UTC), None),
    ],
)
def test_freeze_window_duration_is_elapsed_time_across_daylight_saving_changes(
    schedule: str, hours: float, now: datetime, until: datetime | None
):
    window = FreezeWindow(schedule, timedelta(hours=hours), AMSTERDAM)
    end = window.open_until(now)
    # in UTC: an aware time in a repeated hour never equals one in another zone (PEP 495)
    assert (end.astimezone(UTC) if end else None) == until
    if end is not None:
        assert end > now  # never "open until" a past time
        assert end.tzinfo == ZoneInfo(AMSTERDAM)  # shown in the window's zone


@given(
    schedule=SCHEDULES,
    minutes=st.integers(1, 3 * 24 * 60),
    now=st.datetimes(datetime(2026, 3, 27), datetime(2026, 3, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    )
    | st.datetimes(datetime(2026, 10, 23), datetime(2026, 10, 27)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
)
@settings(max_examples=300, deadline=None)
def test_an_open_window_always_ends_in_the_future_and_lasts_at_most_its_duration(
    schedule, minutes, now
):
    duration = timedelta(minutes=minutes)
    end = FreezeWindow(schedule, duration, AMSTERDAM).open_until(now)
    if end is not None:
        assert now < end <= now + duration
