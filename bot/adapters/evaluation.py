"""The bot's own measurements: each model it may compare, on each evaluation set the policy
names, through the model store's evaluation API (`modelstore.evaluation`).

For every `gates: evaluation:` spec the set's `dataset@ref` is resolved once (a pinned version:
one read; an alias: the alias, then the manifest); then for every discovered model (the
candidates and the versions environments run now) the cached result is read: one GET per
pair. Only a pair never evaluated is computed (downloads verified against their sha256,
onnxruntime over the set in batches) and stored with `If-None-Match: *`, so an hourly run with
nothing new reads one blob per pair and writes nothing.

A set the store refuses for a model (feature count or labels outside the model's, NaN
features, an empty set, a file whose sha256 differs from its manifest, a dataset or alias that
does not exist) becomes that model's `Evaluated.error`: the evaluation gate refuses with the
reason and the run goes on for the other environments. A store that cannot be reached ends
the run, as discovery does (no verdict on the model).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from bot.adapters.modelstore import ModelDiscoveryError
from bot.core.measured import DatasetVersion, Evaluated, Latency, Measurement
from bot.core.model import ModelCandidate
from bot.core.policy import EvaluationSpec, PromotionPolicy
from modelstore import Manifest, ModelStore, ModelStoreError
from modelstore.errors import EvaluationError, IntegrityError, InvalidInputError, NotFoundError
from modelstore.evaluation import Result, cached_result, evaluate, labels_sha256

#: What a model or a set can be refused for: a verdict on the pair, not a fault of the run.
REFUSALS = (EvaluationError, IntegrityError, InvalidInputError, NotFoundError)


def to_measurement(result: Result, *, cached: bool) -> Measurement:
    figures = result.metrics
    metrics = {
        "accuracy": figures.accuracy,
        "macro_f1": figures.macro_f1,
        "log_loss": figures.log_loss,
        "ece": figures.ece,
    }
    metrics |= {f"top_{k}_accuracy": v for k, v in figures.top_k_accuracy.items()}
    return Measurement(
        rows=result.rows,
        labels=tuple(result.labels),
        metrics=metrics,
        per_class_recall=dict(figures.per_class_recall),
        confusion=tuple(tuple(row) for row in figures.confusion_matrix),
        misclassified=tuple(result.misclassified.rows),
        scanned=result.misclassified.scanned,
        latency={b: Latency(t.p50_ms, t.p99_ms) for b, t in result.latency.items()},
        cached=cached,
    )


def specs(policy: PromotionPolicy) -> dict[str, EvaluationSpec]:
    """Every environment's evaluation spec, by key (environments may share one set)."""
    found = (env.gates.evaluation for env in policy.environments)
    return {spec.key: spec for spec in found if spec is not None}


def _resolve(store: ModelStore, spec: EvaluationSpec) -> Manifest | str:
    """The set's manifest, or why it cannot be used."""
    ref: str | int = spec.pinned_version or (spec.ref if spec.ref == "latest" else f"@{spec.ref}")
    try:
        return store.datasets.resolve(spec.dataset, ref)
    except REFUSALS as exc:
        return f"dataset {spec.key}: {exc}"


def measure(store: ModelStore, model: Manifest, dataset: Manifest) -> Evaluated:
    """One pair: the cached result (one read), else evaluated now and cached."""
    found = DatasetVersion(dataset.name, dataset.version, dataset.primary_sha256)
    try:
        result = cached_result(
            store, model.primary_sha256, dataset.primary_sha256, labels_sha256(model)
        )
        if result is not None:
            return Evaluated(found, to_measurement(result, cached=True))
        report = evaluate(store, model.name, model.version, dataset.name, dataset.version)
        return Evaluated(found, to_measurement(report.result, cached=report.cached))
    except REFUSALS as exc:
        return Evaluated(found, error=str(exc))


def measure_models(
    store: ModelStore,
    policy: PromotionPolicy,
    discovered: Iterable[tuple[ModelCandidate, Manifest]],
) -> tuple[ModelCandidate, ...]:
    """The discovered candidates with their measurements on every spec's set."""
    pairs = list(discovered)
    wanted = specs(policy)
    if not wanted:
        return tuple(candidate for candidate, _ in pairs)
    try:
        sets = {key: _resolve(store, spec) for key, spec in wanted.items()}
        measured = []
        for candidate, manifest in pairs:
            evaluations = {
                key: Evaluated(None, error=found)
                if isinstance(found, str)
                else measure(store, manifest, found)
                for key, found in sets.items()
            }
            measured.append(replace(candidate, evaluations=evaluations))
    except ModelStoreError as exc:
        raise ModelDiscoveryError(f"model store (evaluation): {exc}") from exc
    return tuple(measured)
