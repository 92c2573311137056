"""The PR body's "Measured by promotion-bot" section, from a plan's evaluation gate."""

from __future__ import annotations

from bot import pr_body, pr_evaluation
from bot.core.measured import Latency
from bot.core.plan import EnvPlan, plan
from bot.kustomize import UpdateResult
from tests.bot.core.builders import NOW, candidates, env, image, model, policy, state
from tests.bot.core.test_evaluation import SPEC, measured, measurement

POLICY = policy(dev={"gates": {"evaluation": SPEC}})


def _promotion(claimed: float, tolerance: float = 0.01) -> EnvPlan:
    old = measured(
        model(1, 0.95),
        measurement(0.95, wrong=((3, 0, 1),), latency={"1": Latency(1.0, 2.0)}),
    )
    new = measured(
        model(2, claimed),
        measurement(
            0.96,
            confusion=((10, 0), (2, 8)),
            wrong=((3, 0, 1), (7, 1, 0)),
            latency={"1": Latency(1.5, 2.0), "64": Latency(1.0, 1.0)},
        ),
    )
    pol = policy(dev={"gates": {"evaluation": {**SPEC, "claim_tolerance": tolerance}}})
    return plan(state(env("dev", 1, 1)), candidates([image(1)], [old, new]), pol, NOW).env("dev")


def test_the_section_shows_measured_running_and_claimed_figures():
    promotion = _promotion(0.96).promotion
    assert promotion is not None
    text = pr_evaluation.section(promotion)
    assert text is not None
    assert "The bot evaluated v2 and the running v1 on holdout v1 (sha256 `abababababab…`)" in text
    assert "| accuracy | 0.96 | 0.95 (Δ +0.01) | 0.96 |" in text
    assert "better 0 (+1); worse 1 (-1)" in text
    assert "true → predicted): 1 → 0 (+1)" in text
    assert "#7: 1 → 0" in text and "#3:" not in text
    assert "batch 1: p50 1.50x, p99 1.00x" in text
    assert "each as timed when first evaluated, not together" in text
    body = pr_body.render(promotion, None, UpdateResult(), model_pin="model-pin")
    assert pr_evaluation.HEAD in body


def test_a_claim_off_by_more_than_the_tolerance_is_flagged():
    held = _promotion(0.99, tolerance=1.0).promotion  # the gate lets it through: render only
    assert held is not None
    text = pr_evaluation.section(held)
    assert text is not None and "| 0.99 |" in text
    refused = _promotion(0.99)
    assert refused.promotion is None
    assert any("claimed accuracy 0.99, measured 0.96" in r for r in refused.reasons)


def test_no_section_without_an_evaluation():
    promotion = (
        plan(state(env("dev", 1, 1)), candidates([image(1)], [model(1), model(2)]), policy(), NOW)
        .env("dev")
        .promotion
    )
    assert promotion is not None and pr_evaluation.section(promotion) is None
