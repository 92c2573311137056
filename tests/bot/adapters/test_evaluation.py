"""The bot measures models through the real model store's evaluation API (Azurite): cached
pairs cost one read, bad input becomes a refusal with the store's reason, nothing cached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.adapters.evaluation import awaiting_evaluation, measure_models
from bot.adapters.modelstore import discover_manifests
from bot.core.plan import plan
from modelstore import ModelStore
from modelstore.evaluation import RESULTS_ROOT
from modelstore.kinds import DATASET
from modelstore.latency import LATENCY_ROOT
from tests.bot.core.builders import NOW, candidates, env, image, policy, state
from tests.modelstore.conftest import (  # noqa: F401 (fixtures)
    Digits,
    RequestCounter,
    container,
    counter,
    digits,
    make_npz,
    make_softmax,
    store,
)

SPEC: dict[str, Any] = {
    "dataset": "holdout@1",
    "metrics": ["accuracy", "macro_f1"],
    "bounds": {"accuracy": {"min": 0.5, "max_drop": 0.02}},
    "per_class_recall": {"max_drop": 0.1},
    "claim_tolerance": 0.01,
}
POLICY = policy(dev={"gates": {"metrics": {}, "evaluation": SPEC}})


@pytest.fixture
def registered(store: ModelStore, digits: Digits) -> ModelStore:  # noqa: F811
    store.register("digits", digits.model_dir, metrics={"accuracy": digits.accuracy})
    store.datasets.register("holdout", digits.holdout)
    return store


def _measure(where: ModelStore, pinned: tuple[int, ...] = (1,)) -> dict[int, Any]:
    found = discover_manifests(where, "digits", pinned)
    return {m.version: m for m in measure_models(where, POLICY, found)}


def _results(where: ModelStore) -> list[str]:
    return [b.name for b in where.backend.list_blobs(RESULTS_ROOT)]


def test_an_hourly_run_reads_each_cached_pair_once_and_writes_nothing(
    registered: ModelStore,
    counter: RequestCounter,  # noqa: F811
    digits: Digits,  # noqa: F811
) -> None:
    first = _measure(registered)
    evaluated = first[1].evaluations["holdout@1"]
    assert evaluated.error is None and evaluated.measurement is not None
    assert evaluated.measurement.metrics["accuracy"] == pytest.approx(digits.accuracy)
    assert not evaluated.measurement.cached  # computed by this run
    counter.reset()
    again = measure_models(registered, POLICY, discover_manifests(registered, "digits", (1,)))
    measured = again[0].evaluations["holdout@1"].measurement
    assert measured is not None and measured.cached
    assert measured == evaluated.measurement.__class__(
        **{**evaluated.measurement.__dict__, "cached": True}
    )
    methods = [method for method, _ in counter.requests]
    assert "PUT" not in methods and set(methods) == {"GET"}  # nothing recomputed or written
    results = [url for _, url in counter.requests if RESULTS_ROOT in url]
    assert len(results) == 1  # one read for the pair
    assert not any(url.endswith((".onnx", ".npz")) for _, url in counter.requests)


def test_a_tampered_dataset_is_refused_with_the_stores_reason(
    registered: ModelStore, tmp_path: Path
) -> None:
    blob = DATASET.layout.file_path("holdout", 1, "data.npz")
    registered.backend.delete(blob)
    registered.backend.put(blob, make_npz(tmp_path / "other.npz").read_bytes())
    found = _measure(registered)[1].evaluations["holdout@1"]
    assert found.measurement is None and found.error is not None
    assert "data.npz is corrupted" in found.error
    assert _results(registered) == []
    result = plan(
        state(env("dev", 1, None)), candidates([image(1)], [_measure(registered)[1]]), POLICY, NOW
    ).env("dev")
    assert result.promotion is None
    assert any("cannot be evaluated" in r and "corrupted" in r for r in result.reasons)


def test_a_set_with_another_feature_count_or_no_such_set_is_refused(
    registered: ModelStore, tmp_path: Path
) -> None:
    registered.datasets.register("narrow", make_npz(tmp_path / "n.npz", features=8))
    spec = {**SPEC, "dataset": "narrow@1"}
    narrow = policy(dev={"gates": {"evaluation": spec}})
    found = measure_models(registered, narrow, discover_manifests(registered, "digits", ()))
    error = found[0].evaluations["narrow@1"].error
    assert error is not None and "the dataset has 8 features per row, the model takes 64" in error
    missing = policy(dev={"gates": {"evaluation": {**SPEC, "dataset": "nosuch@golden"}}})
    found = measure_models(registered, missing, discover_manifests(registered, "digits", ()))
    error = found[0].evaluations["nosuch@golden"].error
    assert error is not None and error.startswith("dataset nosuch@golden: ")
    assert _results(registered) == []


def test_an_inflated_claim_and_a_collapsed_class_are_refused_with_the_measured_figures(
    registered: ModelStore,
    digits: Digits,  # noqa: F811
    tmp_path: Path,
) -> None:
    registered.register("digits", digits.model_dir, metrics={"accuracy": 0.999})
    models = _measure(registered, (1,))
    result = plan(
        state(env("dev", 1, 1)), candidates([image(1)], list(models.values())), POLICY, NOW
    ).env("dev")
    assert result.promotion is None
    measured = f"{digits.accuracy:.4g}"
    assert any(f"claimed accuracy 0.999, measured {measured}" in r for r in result.reasons)
    worse = make_softmax(tmp_path / "w.onnx", features=64, classes=10)
    registered.register("digits", worse)  # honest (no claim), but far worse on some classes
    models = _measure(registered, (1,))
    result = plan(
        state(env("dev", 1, 1)), candidates([image(1)], list(models.values())), POLICY, NOW
    ).env("dev")
    assert result.promotion is None
    assert any("measured per-class recall: class" in r for r in result.reasons)


def test_the_candidate_is_timed_together_with_the_running_model_once(
    registered: ModelStore,
    counter: RequestCounter,  # noqa: F811
    tmp_path: Path,
) -> None:
    registered.register("digits", make_softmax(tmp_path / "s.onnx", features=64, classes=10))
    running = state(env("dev", 1, 1), env("staging", 1, 1))
    first = measure_models(
        registered, POLICY, discover_manifests(registered, "digits", (1,)), running
    )
    timed = first[1].evaluations["holdout@1"].latency_vs[first[0].primary_sha256]
    assert set(timed) == {"1", "64"}
    assert first[0].evaluations["holdout@1"].latency_vs == {}  # nothing newer than v1 runs
    counter.reset()
    again = measure_models(
        registered, POLICY, discover_manifests(registered, "digits", (1,)), running
    )
    assert (
        again[1].evaluations["holdout@1"].latency_vs == first[1].evaluations["holdout@1"].latency_vs
    )
    assert {method for method, _ in counter.requests} == {"GET"}
    assert len([url for _, url in counter.requests if LATENCY_ROOT in url]) == 1


def test_awaiting_names_the_pairs_not_cached_yet_and_computes_nothing(
    registered: ModelStore,
    counter: RequestCounter,  # noqa: F811
) -> None:
    """The dashboard's "models awaiting evaluation": reads only, one per pair."""
    found = discover_manifests(registered, "digits", (1,))
    counter.reset()
    assert awaiting_evaluation(registered, POLICY, found) == [("digits", 1, "holdout@1", ("dev",))]
    assert {method for method, _ in counter.requests} == {"GET"}
    assert _results(registered) == []  # nothing evaluated
    _measure(registered)
    assert awaiting_evaluation(registered, POLICY, found) == []
