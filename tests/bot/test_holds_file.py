"""deploy/holds.yaml: parsed with errors naming the field, rendered so it reads back exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.policy import Hold, HoldScope
from bot.errors import PolicyError
from bot.holds import parse_holds, parse_until, render_holds

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def test_render_and_parse_round_trip_and_no_file_means_no_holds():
    holds = {
        "prod": Hold(HoldScope.ALL, "incident 42", "ann", NOW + timedelta(days=2)),
        "dev": Hold(HoldScope.IMAGE, "base image CVE", "bob@example.com"),
    }
    text = render_holds(holds)
    assert text.startswith("# Environments held from promotion")
    assert text.index("dev:") < text.index("prod:")
    assert parse_holds(text) == holds
    assert render_holds(parse_holds(text)) == text
    assert parse_holds(None) == {} and parse_holds("holds: {}\n") == {} and parse_holds("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("holds: [\n", "deploy/holds.yaml: not valid YAML"),
        ("holds:\n  prod: {reason: x}\n", "deploy/holds.yaml: holds.prod.by: Field required"),
        ("holds:\n  prod: {reason: ' ', by: ann}\n", "holds.prod.reason: a hold needs a reason"),
        ("holds:\n  prod: {reason: x, by: 'a b'}\n", "holds.prod.by: who holds it must be one"),
        ("holds:\n  prod: {reason: x, by: a, scope: pins}\n", "holds.prod.scope: Input should be"),
        ("holds:\n  prod: {reason: x, by: a, until: '2026-12-01T00:00:00'}\n", "needs a time zone"),
        ("holds:\n  prod: {reason: x, by: a, who: b}\n", "holds.prod.who: Extra inputs"),
        ("other: 1\n", "other: Extra inputs are not permitted"),
    ],
)
def test_a_bad_holds_file_is_refused_naming_the_field(text: str, message: str):
    with pytest.raises(PolicyError) as info:
        parse_holds(text)
    assert message in str(info.value)


def test_until_is_a_zoned_time_or_a_duration_in_the_future():
    assert parse_until("2d", NOW) == NOW + timedelta(days=2)
    assert parse_until("2026-12-01T09:00:00Z", NOW) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    for bad, message in (
        ("soon", "give a time with its zone"),
        ("2026-12-01T09:00:00", "give the time zone"),
        ("2026-11-27T17:00:00Z", "is not in the future"),
        ("0s", "is not in the future"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_until(bad, NOW)
