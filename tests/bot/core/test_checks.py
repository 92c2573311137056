"""`judge_checks`: whether a PR head's reported checks let the bot automerge it."""

from __future__ import annotations

import pytest

from bot.core.checks import Verdict, judge_checks


@pytest.mark.parametrize(
    ("required", "reported", "verdict", "detail"),
    [
        # none named: whatever is reported counts; nothing reported, nothing to wait for
        ((), {}, Verdict.GREEN, "no checks reported"),
        ((), {"ci": "success", "lint": "success"}, Verdict.GREEN, "ci, lint passed"),
        ((), {"ci": "success", "lint": "pending"}, Verdict.PENDING, "waiting for lint"),
        ((), {"ci": "error", "lint": "pending"}, Verdict.FAILED, "ci failed"),
        ((), {"b": "failure", "a": "error"}, Verdict.FAILED, "a, b failed"),
        # named: only those count; one not reported yet waits
        (("ci",), {}, Verdict.PENDING, "waiting for ci"),
        (("ci",), {"ci": "success", "other": "failure"}, Verdict.GREEN, "ci passed"),
        (("ci", "lint"), {"ci": "success"}, Verdict.PENDING, "waiting for lint"),
        (("ci", "lint"), {"ci": "pending", "lint": "failure"}, Verdict.FAILED, "lint failed"),
    ],
)
def test_the_verdict_on_a_heads_checks(required, reported, verdict, detail):
    judged = judge_checks(required, reported)
    assert (judged.verdict, judged.detail) == (verdict, detail)
