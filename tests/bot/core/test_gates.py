"""Gates as one protocol: each gate judged alone, and the planner running a configured list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bot.core.gates import (
    DEFAULT_GATES,
    Candidate,
    Check,
    Evidence,
    ForwardOnly,
    GateResult,
    Live,
    Metrics,
    Signature,
    Verdict,
)
from bot.core.model import ImagePin
from bot.core.plan import plan
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
WORLD = candidates([image(1), image(2)], [model(1), model(2), model(3, archived=True)])


def _evidence(env_overrides: dict[str, Any] | None = None, env_name: str = "staging") -> Evidence:
    pol = policy(**{env_name: env_overrides}) if env_overrides else policy()
    return Evidence(
        pol.environment(env_name),
        pol.tag_policy(env_name),
        SETTLED.get(env_name),
        SETTLED,
        WORLD,
        NOW,
    )


@pytest.mark.parametrize(
    ("gate", "candidate", "verdict", "rows", "reason"),
    [
        (ForwardOnly(), Candidate(ipin(2), mpin(1), image_moves=True), Verdict.PASSED, 1, None),
        (
            ForwardOnly(),
            Candidate(ipin(1), mpin(0), model_moves=True),
            Verdict.REFUSED,
            1,
            "model v0 in dev is older than the deployed v1: not downgrading",
        ),
        (Signature(), Candidate(None, mpin(2), model_moves=True), Verdict.PASSED, 0, None),
        (
            Signature(),
            Candidate(ImagePin("modelops-app", "r/app", "t"), mpin(1), image_moves=True),
            Verdict.REFUSED,
            1,
            "image serves an unknown signature, model has input:float32[?,64]",
        ),
        (Metrics(), Candidate(ipin(2), mpin(1), image_moves=True), Verdict.PASSED, 0, None),
        (
            Metrics(),
            Candidate(ipin(1), mpin(9), model_moves=True),
            Verdict.REFUSED,
            0,
            "model digits v9 is unknown to the model store: metric gates cannot be checked",
        ),
        (Live(), Candidate(ipin(1), mpin(2), model_moves=True), Verdict.PASSED, 0, None),
        (
            Live(),
            Candidate(ipin(1), mpin(3), model_moves=True),
            Verdict.REFUSED,
            0,
            "model v3 is archived",
        ),
    ],
)
def test_each_gate_alone(gate, candidate, verdict, rows, reason):
    overrides = {"gates": {"metrics": {"accuracy": {"min": 0.5}}}}
    result = gate.evaluate(candidate, _evidence(overrides))
    assert result.gate == gate.name
    assert result.verdict is verdict
    assert result.passed is (verdict is Verdict.PASSED)
    assert len(result.checks) == rows
    if reason is None:
        assert result.reasons == ()
    else:
        assert any(reason in r for r in result.reasons), result.reasons


def test_metrics_do_not_apply_without_bounds():
    result = Metrics().evaluate(Candidate(ipin(1), mpin(9), model_moves=True), _evidence())
    assert result == GateResult("metrics", Verdict.PASSED)


@dataclass(frozen=True)
class Refuse:
    """A gate added by configuration: refuses every model move (stands for issue 17's)."""

    name: str = "evaluation"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        if not candidate.model_moves:
            return GateResult(self.name, Verdict.PASSED)
        detail = f"v{candidate.model.version if candidate.model else None} measured 0.5"
        return GateResult(
            self.name,
            Verdict.REFUSED,
            (Check(self.name, False, detail),),
            (f"evaluation: {detail}",),
            {"measured": 0.5},
        )


@dataclass(frozen=True)
class Wait:
    name: str = "change window"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        check = Check(self.name, False, "outside the change window")
        return GateResult(self.name, Verdict.HELD, (check,), ("wait for the change window",))


def test_the_planner_runs_the_configured_gates_in_order():
    world = candidates([image(1), image(2)], [model(1), model(2)])
    stock = plan(SETTLED, world, policy(), NOW)
    promo = stock.env("dev").promotion
    assert promo is not None and promo.model is not None
    assert [g.gate for g in promo.gates] == [g.name for g in DEFAULT_GATES]

    refused = plan(SETTLED, world, policy(), NOW, gates=(*DEFAULT_GATES, Refuse()))
    dev = refused.env("dev")
    # the new model is refused by the added gate; the new image still moves alone
    assert dev.promotion is not None and dev.promotion.model is None
    assert "evaluation: v2 measured 0.5" in dev.reasons
    assert all(c.name != "evaluation" for c in dev.promotion.checks)  # passed: no rows

    held = plan(SETTLED, world, policy(), NOW, gates=(Wait(),)).env("dev")
    assert held.held is not None and held.promotion is None
    assert held.held.checks == (Check("change window", False, "outside the change window"),)
    assert "wait for the change window" in held.reasons


def test_gate_results_reach_the_plan_json():
    world = candidates([image(1), image(2)], [model(1)])
    data = plan(SETTLED, world, policy(), NOW).to_dict()
    gates = data["envs"][0]["promotion"]["gates"]
    assert gates[0] == {
        "gate": "forward",
        "verdict": "passed",
        "checks": [{"name": "forward", "passed": True, "detail": "only forward moves"}],
        "reasons": [],
        "data": {"downgrades": [], "allowed": False},
    }
