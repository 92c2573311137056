"""Holds: what a hold covers, when it ends, the `hold` gate, and holds joined to the policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.core.errors import PolicyError
from bot.core.gates import Candidate, Evidence, Holds, Verdict
from bot.core.plan import plan
from bot.core.policy import Hold, HoldScope
from tests.bot.core.builders import (
    HOUR,
    NOW,
    candidates,
    env,
    image,
    ipin,
    model,
    mpin,
    policy,
    state,
)

SETTLED = state(*(env(name, 1, 1, NOW - 48 * HOUR) for name in ("dev", "staging", "prod")))
WORLD = candidates([image(1), image(2)], [model(1), model(2)])
IMAGE = Candidate(ipin(2), mpin(1), image_moves=True)
MODEL = Candidate(ipin(1), mpin(2), model_moves=True)
BOTH = Candidate(ipin(2), mpin(2), image_moves=True, model_moves=True)


def _hold(scope: HoldScope = HoldScope.ALL, until: timedelta | None = None) -> Hold:
    return Hold(scope, "incident 42", "ann", NOW + until if until is not None else None)


def _evidence(hold: Hold | None) -> Evidence:
    pol = policy()
    staging = replace(pol.environment("staging"), hold=hold)
    return Evidence(staging, pol.tag_policy("staging"), SETTLED.get("staging"), SETTLED, WORLD, NOW)


@pytest.mark.parametrize(
    ("hold", "candidate", "verdict"),
    [
        (None, BOTH, Verdict.PASSED),
        (_hold(), IMAGE, Verdict.HELD),
        (_hold(), MODEL, Verdict.HELD),
        (_hold(HoldScope.IMAGE), IMAGE, Verdict.HELD),
        (_hold(HoldScope.IMAGE), MODEL, Verdict.PASSED),
        (_hold(HoldScope.IMAGE), BOTH, Verdict.HELD),  # the pins move together
        (_hold(HoldScope.MODEL), IMAGE, Verdict.PASSED),
        (_hold(HoldScope.MODEL), MODEL, Verdict.HELD),
        (_hold(until=HOUR), BOTH, Verdict.HELD),
        (_hold(until=-HOUR), BOTH, Verdict.PASSED),  # expired
        (_hold(until=timedelta(0)), BOTH, Verdict.PASSED),  # ends at `until`
    ],
)
def test_a_hold_holds_the_moves_it_covers_until_it_ends(hold, candidate, verdict):
    result = Holds().evaluate(candidate, _evidence(hold))
    assert result.verdict is verdict
    if verdict is Verdict.HELD:
        assert result.reasons[0].endswith(
            "held by ann: incident 42"
            + (f" (until {hold.until.isoformat()})" if hold.until else "")
        )
        assert result.data["by"] == "ann" and result.data["scope"] == hold.scope.value
        assert not result.checks[0].passed


def test_describe_names_what_who_why_and_until():
    assert _hold().describe() == "everything held by ann: incident 42"
    until = _hold(HoldScope.MODEL, HOUR)
    expected = f"model held by ann: incident 42 (until {(NOW + HOUR).isoformat()})"
    assert until.describe() == expected


def test_holds_join_the_policy_and_an_unknown_environment_is_refused():
    pol = policy().with_holds({"prod": _hold()})
    assert pol.environment("prod").hold == _hold()
    assert pol.environment("dev").hold is None
    with pytest.raises(PolicyError, match="unknown environment 'qa'"):
        policy().with_holds({"qa": _hold()})


def test_holds_that_change_nothing_leave_the_policy_as_it_is():
    pol = policy()
    assert pol.with_holds({}) is pol
    held = pol.with_holds({"prod": _hold()})
    assert held.with_holds({"prod": _hold()}) is held
    unheld = held.with_holds({})
    assert unheld == pol and unheld.environment("prod").hold is None
    assert held.environment("dev") is pol.environment("dev")  # untouched, not rebuilt


def test_a_held_environment_gets_no_promotion_from_the_planner():
    pol = policy().with_holds({"dev": _hold()})
    world = candidates([image(1), image(2)], [model(1), model(2)])
    result = plan(SETTLED, world, pol, NOW)
    dev = result.env("dev")
    assert dev.promotion is None and dev.held is not None
    assert any("held by ann" in reason for reason in dev.reasons)
