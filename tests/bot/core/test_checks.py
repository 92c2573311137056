"""`judge_checks`: whether a PR head's reported checks let the bot automerge it."""

from __future__ import annotations

import pytest

from bot.core.checks import Verdict, judge_checks


@pytest.mark.parametrize(
    ("required", "reported", "verdict", "detail"),
    [
        # none named: whatever is reported counts; nothing reported yet waits (CI may not
        # have started: "no checks" never reads as "all green")
        (None, {}, Verdict.PENDING, "no checks reported yet"),
        (None, {"ci": "success", "lint": "success"}, Verdict.GREEN, "ci, lint passed"),
        (None, {"ci": "success", "lint": "pending"}, Verdict.PENDING, "waiting for lint"),
        (None, {"ci": "error", "lint": "pending"}, Verdict.FAILED, "ci failed"),
        (None, {"b": "failure", "a": "error"}, Verdict.FAILED, "a, b failed"),
        # `required_checks: []`: the policy explicitly needs none, whatever is reported
        ((), {}, Verdict.GREEN, "no checks required (required_checks: [])"),
        ((), {"ci": "failure"}, Verdict.GREEN, "no checks required (required_checks: [])"),
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
