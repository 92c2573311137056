"""The evaluation gate: bounds on measured figures, claims checked against measurements."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.core.evaluation import (
    Evaluation,
    claim_check,
    latency_pairs,
    latency_ratios,
    new_confusions,
    newly_wrong,
    recall_check,
)
from bot.core.gates import Candidate, Evidence, Verdict
from bot.core.measured import DatasetVersion, Evaluated, Latency, Measurement
from bot.core.model import ModelCandidate
from bot.core.plan import plan
from bot.core.policy import MetricGate
from tests.bot.core.builders import NOW, candidates, env, image, model, mpin, policy, state

KEY = "holdout@1"
SPEC: dict[str, Any] = {
    "dataset": KEY,
    "metrics": ["accuracy", "macro_f1", "log_loss"],
    "bounds": {"accuracy": {"min": 0.9, "max_drop": 0.02}, "log_loss": {"max_rise": 0.1}},
    "per_class_recall": {"min": 0.5, "max_drop": 0.05},
    "claim_tolerance": 0.01,
}
DATASET = DatasetVersion("holdout", 1, "ab" * 32)


def measurement(
    accuracy: float,
    recalls: tuple[float, float] = (0.95, 0.95),
    *,
    confusion: tuple[tuple[int, ...], ...] = ((9, 1), (1, 9)),
    wrong: tuple[tuple[int, int, int], ...] = (),
    scanned: int = 20,
    latency: dict[str, Latency] | None = None,
) -> Measurement:
    return Measurement(
        rows=20,
        labels=(0, 1),
        metrics={"accuracy": accuracy, "macro_f1": accuracy, "log_loss": 0.2, "ece": 0.01},
        per_class_recall={"0": recalls[0], "1": recalls[1]},
        confusion=confusion,
        misclassified=wrong,
        scanned=scanned,
        latency=latency if latency is not None else {"1": Latency(1.0, 2.0)},
    )


def measured(m: ModelCandidate, found: Measurement | None, error: str | None = None) -> Any:
    return replace(m, evaluations={KEY: Evaluated(DATASET, found, error)})


def _evidence(models: list[ModelCandidate], running: int | None = 1, **spec: Any) -> Evidence:
    pol = policy(dev={"gates": {"evaluation": {**SPEC, **spec}}})
    return Evidence(
        env=pol.first,
        tag_policy=pol.tag_policy("dev"),
        current=env("dev", 1, running),
        state=state(env("dev", 1, running)),
        candidates=candidates([image(1)], models),
        now=NOW,
    )


def _judge(models: list[ModelCandidate], version: int = 2, **kw: Any) -> Any:
    move = Candidate(image=None, model=mpin(version), model_moves=True)
    return Evaluation().evaluate(move, _evidence(models, **kw))


def test_a_better_measured_model_passes_with_its_table():
    old = measured(model(1, 0.95), measurement(0.95, wrong=((3, 0, 1),)))
    new = measured(
        model(2, 0.96),
        measurement(0.96, wrong=((3, 0, 1), (5, 1, 0)), latency={"1": Latency(2.0, 3.0)}),
    )
    result = _judge([old, new])
    assert result.verdict is Verdict.PASSED, result.reasons
    details = [c.detail for c in result.checks]
    assert details[0].startswith("v2 measured on holdout v1 (sha256 abababababab…), 20 rows")
    assert "accuracy 0.96 vs 0.95 running v1 (Δ +0.01)" in details
    assert result.data["table"][0] == {
        "metric": "accuracy",
        "candidate": 0.96,
        "running": 0.95,
        "claimed": 0.96,
    }
    assert result.data["newly_wrong"] == [{"index": 5, "true": 1, "predicted": 0}]
    assert result.data["latency"] == {"1": {"p50": 2.0, "p99": 1.5}}


def test_an_inflated_claim_is_refused_with_the_measured_figure():
    old = measured(model(1, 0.95), measurement(0.95))
    new = measured(model(2, 0.97), measurement(0.91, (0.91, 0.91)))
    result = _judge([old, new])
    assert result.verdict is Verdict.REFUSED
    assert "claimed accuracy 0.97, measured 0.91 (tolerance 0.01)" in result.reasons[0]


def test_one_class_collapsing_is_refused_though_the_average_holds():
    old = measured(model(1, None), measurement(0.95, (0.95, 0.95)))
    new = measured(model(2, None), measurement(0.95, (0.99, 0.85)))
    result = _judge([old, new])
    assert result.verdict is Verdict.REFUSED
    assert (
        "class 1 recall 0.85 vs 0.95 running v1 (Δ -0.1): drops more than 0.05"
        in (result.reasons[0])
    )


@pytest.mark.parametrize(
    ("found", "error", "why"),
    [
        (None, "the dataset has 32 features per row, the model takes 64", "32 features"),
        (None, None, "not evaluated"),
    ],
)
def test_a_model_the_set_cannot_evaluate_is_refused(found, error, why):
    new = measured(model(2), found, error)
    result = _judge([measured(model(1), measurement(0.95)), new])
    assert result.verdict is Verdict.REFUSED
    assert why in result.reasons[0]


def test_an_unknown_candidate_or_running_model_is_refused():
    assert "unknown to the model store" in _judge([]).reasons[0]
    new = measured(model(2), measurement(0.95))
    result = _judge([new])  # v1 runs, the store does not know it
    assert result.verdict is Verdict.REFUSED
    assert "running v1 is unknown" in result.reasons[0]


def test_nothing_running_compares_with_nothing():
    new = measured(model(2, 0.95), measurement(0.95))
    result = _judge([new], running=None)
    assert result.passed
    assert result.checks[0].detail.endswith("nothing runs to compare with")
    assert result.data["classes"] == [] and result.data["running_version"] is None


def test_a_running_model_the_set_cannot_evaluate_is_not_compared():
    old = measured(model(1), None, "labels outside")
    new = measured(model(2, 0.95), measurement(0.95))
    result = _judge([old, new])
    assert result.passed
    assert "running v1 not compared (labels outside)" in result.checks[0].detail
    old = replace(model(1), evaluations={})
    assert "not compared (not evaluated)" in _judge([old, new]).checks[0].detail


def test_a_bound_on_a_figure_the_measurement_lacks_fails():
    new = measured(model(2), replace(measurement(0.95), metrics={}))
    result = _judge([measured(model(1), measurement(0.95)), new], per_class_recall=None)
    assert "the measurement has no accuracy" in result.reasons[0]


def test_the_gate_does_not_apply_without_a_spec_or_a_model_move():
    pol = policy()
    evidence = Evidence(
        pol.first, pol.tag_policy("dev"), env("dev"), state(), candidates([], []), NOW
    )
    assert Evaluation().evaluate(Candidate(None, mpin(1), model_moves=True), evidence).checks == ()
    assert _judge([], version=2).verdict is Verdict.REFUSED
    stays = Candidate(image=None, model=mpin(1), model_moves=False)
    assert Evaluation().evaluate(stays, _evidence([])).passed


def test_an_alias_is_named_as_resolved_and_an_unresolved_set_by_its_key():
    key = "holdout@golden"
    new = replace(model(2, 0.95), evaluations={key: Evaluated(None, measurement(0.95))})
    result = _judge([new], running=None, dataset=key)
    assert "measured on holdout@golden (holdout@golden resolved)" in result.checks[0].detail
    assert result.data["dataset"]["version"] is None


def test_bounds_absolute_and_relative():
    gate = MetricGate(min=0.5, max=0.9, max_drop=0.1, max_rise=0.05)
    high = measurement(0.95, (0.95, 0.2))
    assert "above max 0.9" in recall_check(gate, high, None, "running").detail
    low = measurement(0.95, (0.6, 0.2))
    check = recall_check(gate, low, measurement(0.95, (0.5, 0.4)), "running v1")
    assert "class 0 recall 0.6 vs 0.5 running v1 (Δ +0.1): rises more than 0.05" in check.detail
    assert "class 1 recall 0.2 vs 0.4 running v1 (Δ -0.2): below min 0.5, drops" in check.detail
    empty = replace(measurement(0.9), per_class_recall={})
    assert recall_check(gate, empty, None, "running").detail == "every class within bounds"


def test_claims_compare_only_what_was_measured():
    m = measurement(0.95)
    assert claim_check({"f1": 0.5}, m, 0.01).detail == "no measured metric was claimed"
    assert claim_check({"accuracy": 0.955}, m, 0.01).passed


def test_confusion_deltas_and_newly_wrong_rows():
    old = measurement(0.9, confusion=((9, 1), (1, 9)), wrong=((1, 0, 1), (30, 1, 0)), scanned=20)
    new = measurement(0.9, confusion=((10, 0), (3, 7)), wrong=((2, 1, 0), (25, 1, 0)), scanned=40)
    assert new_confusions(new, old) == [{"true": 1, "predicted": 0, "more": 2}]
    assert newly_wrong(new, old) == [{"index": 2, "true": 1, "predicted": 0}]
    slow = replace(old, latency={"1": Latency(0.0, 1.0), "64": Latency(1.0, 1.0)})
    assert latency_ratios(latency_pairs(new, slow)) == {}


def test_latency_timed_together_with_the_running_model_is_preferred():
    old = measured(model(1, 0.95), measurement(0.95))
    together = {"1": (Latency(3.0, 4.0), Latency(1.5, 2.0))}
    new = measured(model(2, 0.95), measurement(0.95, latency={"1": Latency(9.0, 9.0)}))
    new = replace(
        new,
        evaluations={KEY: replace(new.evaluations[KEY], latency_vs={old.primary_sha256: together})},
    )
    result = _judge([old, new])
    assert result.data["latency"] == {"1": {"p50": 2.0, "p99": 2.0}}
    assert result.data["latency_same_run"] is True


def test_the_planner_refuses_a_model_whose_measurement_fails():
    pol = policy(dev={"gates": {"evaluation": SPEC}})
    old = measured(model(1, 0.95), measurement(0.95))
    new = measured(model(2, 0.97), measurement(0.91, (0.91, 0.91)))
    result = plan(state(env("dev", 1, 1)), candidates([image(1)], [old, new]), pol, NOW).env("dev")
    assert result.promotion is None
    assert any("claimed accuracy 0.97, measured 0.91" in r for r in result.reasons)
