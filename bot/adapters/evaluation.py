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
from bot.core.model import ModelCandidate, State
from bot.core.policy import EvaluationSpec, PromotionPolicy
from modelstore import Manifest, ModelStore, ModelStoreError
from modelstore.errors import EvaluationError, IntegrityError, InvalidInputError, NotFoundError
from modelstore.evaluation import Result, cached_result, evaluate, labels_sha256
from modelstore.latency import compare_latency

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


def awaiting_evaluation(
    store: ModelStore,
    policy: PromotionPolicy,
    discovered: Iterable[tuple[ModelCandidate, Manifest]],
) -> list[tuple[str, int, str, tuple[str, ...]]]:
    """(model, version, set key, environments) of each discovered model whose evaluation on
    a spec's set is not cached yet: what the next run will compute. Reads only (the set once,
    then one cached-result read a pair); a set or model the store refuses is left out (the
    evaluation gate says why), a store that cannot be reached ends the read."""
    wanted = specs(policy)
    users = {
        key: tuple(
            e.name
            for e in policy.environments
            if e.gates.evaluation is not None and e.gates.evaluation.key == key
        )
        for key in wanted
    }
    pending = []
    try:
        sets = {key: _resolve(store, spec) for key, spec in wanted.items()}
        for _, model in discovered:
            for key, dataset in sets.items():
                if isinstance(dataset, str):
                    continue
                try:
                    cached = cached_result(
                        store, model.primary_sha256, dataset.primary_sha256, labels_sha256(model)
                    )
                except REFUSALS:
                    continue
                if cached is None:
                    pending.append((model.name, model.version, key, users[key]))
    except ModelStoreError as exc:
        raise ModelDiscoveryError(f"model store (evaluation): {exc}") from exc
    return pending


def latency_pairs(policy: PromotionPolicy, state: State) -> set[tuple[str, int, int]]:
    """(spec key, candidate version, running version) of the moves a plan may weigh: in the
    first environment every newer version against the running one, in a later one the
    previous environment's model against the running one."""
    pairs = set()
    for env in policy.environments:
        spec, running = env.gates.evaluation, state.get(env.name).model
        if spec is None or running is None or running.name != policy.model_name:
            continue
        previous = policy.previous(env.name)
        if previous is None:
            pairs.add((spec.key, -1, running.version))  # -1: every newer version
            continue
        before = state.get(previous.name).model
        if before is not None and before.name == running.name and before != running:
            pairs.add((spec.key, before.version, running.version))
    return pairs


def time_together(
    store: ModelStore,
    candidate: Manifest,
    baseline: Manifest,
    dataset: Manifest,
) -> dict[str, tuple[Latency, Latency]] | None:
    """Both models timed in one run (`modelstore.latency`, cached per pair); None when the
    store refuses one of them (the evaluation gate says why)."""
    try:
        comparison, _ = compare_latency(store, candidate, baseline, dataset)
    except REFUSALS:
        return None
    return {
        batch: (
            Latency(timed.p50_ms, timed.p99_ms),
            Latency(comparison.baseline[batch].p50_ms, comparison.baseline[batch].p99_ms),
        )
        for batch, timed in comparison.candidate.items()
        if batch in comparison.baseline
    }


def measure_models(
    store: ModelStore,
    policy: PromotionPolicy,
    discovered: Iterable[tuple[ModelCandidate, Manifest]],
    state: State | None = None,
) -> tuple[ModelCandidate, ...]:
    """The discovered candidates with their measurements on every spec's set and, for the
    moves `state` allows (`latency_pairs`), their latency timed together with the model
    running there."""
    pairs = list(discovered)
    wanted = specs(policy)
    if not wanted:
        return tuple(candidate for candidate, _ in pairs)
    try:
        sets = {key: _resolve(store, spec) for key, spec in wanted.items()}
        measured: dict[int, tuple[ModelCandidate, Manifest]] = {}
        for candidate, manifest in pairs:
            evaluations = {
                key: Evaluated(None, error=found)
                if isinstance(found, str)
                else measure(store, manifest, found)
                for key, found in sets.items()
            }
            measured[candidate.version] = (replace(candidate, evaluations=evaluations), manifest)
        for key, wanted_version, running in sorted(latency_pairs(policy, state or State())):
            dataset = sets[key]
            if isinstance(dataset, str) or running not in measured:
                continue
            base, base_manifest = measured[running]
            for version, (candidate, manifest) in list(measured.items()):
                if version == running or (wanted_version not in {-1, version}):
                    continue
                if wanted_version == -1 and version < running:
                    continue
                own, theirs = candidate.evaluations[key], base.evaluations[key]
                if own.measurement is None or theirs.measurement is None:
                    continue
                together = time_together(store, manifest, base_manifest, dataset)
                if together is None:
                    continue
                timed = {**own.latency_vs, base.primary_sha256: together}
                evaluations = {**candidate.evaluations, key: replace(own, latency_vs=timed)}
                measured[version] = (replace(candidate, evaluations=evaluations), manifest)
    except ModelStoreError as exc:
        raise ModelDiscoveryError(f"model store (evaluation): {exc}") from exc
    return tuple(candidate for candidate, _ in measured.values())
