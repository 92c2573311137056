"""The evaluation gate: bounds on what the bot measured, not on what was claimed (issue 17).

Whenever the model moves and the environment has `gates: evaluation:`, the candidate's
measurement on the spec's evaluation set (filled in by the shell, `bot.core.measured`) must

- exist: a set the store refused for this model (its feature count or labels, NaN features,
  an empty set, a file whose sha256 differs from its manifest) is a refusal naming why;
- keep every bounded figure (`gates:`) within `min`/`max`, and within `max_drop`/`max_rise`
  of the model the environment runs now, measured on the same set;
- keep every class's recall within `per_class_recall:` (so one class cannot collapse unseen
  behind a steady average);
- match each metric the registration claimed within `claim_tolerance`
  ("claimed 0.97, measured 0.91" is a failed gate).

The result's `data` carries what the PR body's evaluation section renders: the metric table
(measured candidate, measured running, claimed), the confusion-matrix delta by class, the rows
the candidate newly gets wrong and the latency ratios. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.gates import Candidate, Check, Evidence, GateResult, Verdict
from bot.core.measured import Evaluated, Latency, Measurement
from bot.core.model import ModelCandidate
from bot.core.policy import EvaluationSpec, MetricGate

NEWLY_WRONG_SHOWN = 5
CONFUSIONS_SHOWN = 5
_EPS = 1e-12


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def bound_problems(gate: MetricGate, value: float, old: float | None) -> list[str]:
    """What `value` breaks of `gate` (`old`: the running model's figure, None: no comparison)."""
    problems = []
    if gate.min is not None and value < gate.min:
        problems.append(f"below min {_fmt(gate.min)}")
    if gate.max is not None and value > gate.max:
        problems.append(f"above max {_fmt(gate.max)}")
    if old is not None:
        delta = value - old
        if gate.max_drop is not None and -delta > gate.max_drop + _EPS:
            problems.append(f"drops more than {_fmt(gate.max_drop)}")
        if gate.max_rise is not None and delta > gate.max_rise + _EPS:
            problems.append(f"rises more than {_fmt(gate.max_rise)}")
    return problems


def _versus(old: float | None, value: float, running: str) -> str:
    return "" if old is None else f" vs {_fmt(old)} {running} (Δ {value - old:+.4g})"


def metric_checks(
    spec: EvaluationSpec, measured: Measurement, baseline: Measurement | None, running: str
) -> list[Check]:
    """One row per bounded figure; `running` names the baseline (`running v3`)."""
    checks = []
    for metric, gate in sorted(spec.gates.items()):
        name = f"measured {metric}"
        value = measured.metrics.get(metric)
        if value is None:
            checks.append(Check(name, False, f"the measurement has no {metric}"))
            continue
        old = baseline.metrics.get(metric) if baseline else None
        problems = bound_problems(gate, value, old)
        detail = f"{metric} {_fmt(value)}{_versus(old, value, running)}"
        checks.append(Check(name, not problems, detail + "".join(f": {p}" for p in problems)))
    return checks


def recall_check(
    gate: MetricGate, measured: Measurement, baseline: Measurement | None, running: str
) -> Check:
    """Every class's recall within `gate` (relative bounds against the same class running)."""
    failed = []
    for label, value in sorted(measured.per_class_recall.items(), key=lambda kv: kv[1]):
        old = baseline.per_class_recall.get(label) if baseline else None
        problems = bound_problems(gate, value, old)
        if problems:
            failed.append(
                f"class {label} recall {_fmt(value)}{_versus(old, value, running)}: "
                + ", ".join(problems)
            )
    name = "measured per-class recall"
    if failed:
        return Check(name, False, "; ".join(failed))
    lowest = min(measured.per_class_recall.items(), key=lambda kv: kv[1], default=None)
    where = f" (lowest: class {lowest[0]} {_fmt(lowest[1])})" if lowest else ""
    return Check(name, True, f"every class within bounds{where}")


def claim_check(claimed: Mapping[str, float], measured: Measurement, tolerance: float) -> Check:
    """Each claimed metric that was measured must match its measurement within `tolerance`."""
    compared = sorted(set(claimed) & set(measured.metrics))
    wrong = [
        f"claimed {m} {_fmt(claimed[m])}, measured {_fmt(measured.metrics[m])}"
        for m in compared
        if abs(claimed[m] - measured.metrics[m]) > tolerance + _EPS
    ]
    name = "claimed metrics"
    if wrong:
        return Check(name, False, "; ".join(wrong) + f" (tolerance {_fmt(tolerance)})")
    if not compared:
        return Check(name, True, "no measured metric was claimed")
    what = ", ".join(f"{m} {_fmt(claimed[m])}" for m in compared)
    return Check(name, True, f"{what} as measured (tolerance {_fmt(tolerance)})")


# --------------------------------------------------------------------------- comparisons


def _hits(m: Measurement) -> dict[int, int]:
    return {label: m.confusion[i][i] for i, label in enumerate(m.labels)}


def class_deltas(candidate: Measurement, running: Measurement) -> list[dict[str, int]]:
    """Classes whose count of correct rows changed: label, running, candidate, delta."""
    new, old = _hits(candidate), _hits(running)
    return [
        {"label": label, "running": old[label], "candidate": new[label], "delta": delta}
        for label in sorted(set(new) & set(old))
        if (delta := new[label] - old[label]) != 0
    ]


def _cells(m: Measurement) -> dict[tuple[int, int], int]:
    return {
        (true, predicted): m.confusion[i][j]
        for i, true in enumerate(m.labels)
        for j, predicted in enumerate(m.labels)
        if i != j
    }


def new_confusions(candidate: Measurement, running: Measurement) -> list[dict[str, int]]:
    """The off-diagonal cells that grew most (true label taken for the predicted one)."""
    new, old = _cells(candidate), _cells(running)
    grown = [
        {"true": true, "predicted": predicted, "more": count - old.get((true, predicted), 0)}
        for (true, predicted), count in new.items()
        if count > old.get((true, predicted), 0)
    ]
    grown.sort(key=lambda c: (-c["more"], c["true"], c["predicted"]))
    return grown[:CONFUSIONS_SHOWN]


def newly_wrong(candidate: Measurement, running: Measurement) -> list[dict[str, int]]:
    """Rows the candidate gets wrong and the running model right, among the rows both
    recorded completely: index, true label, the candidate's prediction."""
    scanned = min(candidate.scanned, running.scanned)
    old_wrong = {index for index, _, _ in running.misclassified}
    return [
        {"index": index, "true": true, "predicted": predicted}
        for index, true, predicted in candidate.misclassified
        if index < scanned and index not in old_wrong
    ][:NEWLY_WRONG_SHOWN]


def latency_pairs(
    candidate: Measurement, running: Measurement
) -> dict[str, tuple[Latency, Latency]]:
    """Each model's own timing (from its evaluation, not timed together) per batch size."""
    batches = set(candidate.latency) & set(running.latency)
    return {b: (candidate.latency[b], running.latency[b]) for b in batches}


def latency_ratios(pairs: Mapping[str, tuple[Latency, Latency]]) -> dict[str, dict[str, float]]:
    """candidate / running p50 and p99 per batch size."""
    ratios = {}
    for batch in sorted(pairs, key=int):
        new, old = pairs[batch]
        if old.p50_ms > 0 and old.p99_ms > 0:
            ratios[batch] = {"p50": new.p50_ms / old.p50_ms, "p99": new.p99_ms / old.p99_ms}
    return ratios


def table(
    spec: EvaluationSpec,
    measured: Measurement,
    baseline: Measurement | None,
    claimed: Mapping[str, float],
) -> list[dict[str, Any]]:
    """The metric table: shown and bounded figures, measured candidate, measured running,
    claimed."""
    names = list(dict.fromkeys([*spec.metrics, *sorted(spec.gates)]))
    return [
        {
            "metric": name,
            "candidate": measured.metrics.get(name),
            "running": baseline.metrics.get(name) if baseline else None,
            "claimed": claimed.get(name),
        }
        for name in names
    ]


# --------------------------------------------------------------------------- the gate


def _baseline(
    evidence: Evidence, spec: EvaluationSpec
) -> tuple[ModelCandidate | None, Evaluated | None]:
    info = evidence.model_info(evidence.current.model)
    return info, (info.evaluations.get(spec.key) if info else None)


@dataclass(frozen=True)
class Evaluation:
    """The measured figures of the candidate model on the environment's evaluation set."""

    name: str = "evaluation"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        spec = evidence.env.gates.evaluation
        model = candidate.model
        if spec is None or model is None or not candidate.model_moves:
            return GateResult(self.name, Verdict.PASSED)
        info = evidence.model_info(model)
        found = info.evaluations.get(spec.key) if info else None
        if info is None or found is None or found.measurement is None:
            why = "unknown to the model store" if info is None else "not evaluated"
            why = found.error if found is not None and found.error else why
            detail = f"v{model.version} on dataset {spec.key}: {why}"
            return GateResult(
                self.name,
                Verdict.REFUSED,
                (Check(self.name, False, detail),),
                (f"model {model.name} v{model.version} cannot be evaluated: {why}",),
                {"dataset": spec.key, "error": why},
            )
        measured = found.measurement
        deployed = evidence.current.model
        base_info, base_found = _baseline(evidence, spec)
        baseline = base_found.measurement if base_found else None
        running = f"running v{deployed.version}" if deployed else "running"
        checks = [
            Check(self.name, True, _summary(spec, found, model.version, deployed, base_found))
        ]
        refusals = []
        if deployed is not None and base_info is None:
            refusals.append(
                f"running v{deployed.version} is unknown to the model store: "
                "evaluation bounds cannot be compared"
            )
        checks.append(claim_check(info.metrics, measured, spec.claim_tolerance))
        checks += metric_checks(spec, measured, baseline, running)
        if spec.per_class_recall is not None:
            checks.append(recall_check(spec.per_class_recall, measured, baseline, running))
        failed = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
        if failed:
            refusals.append(
                f"model v{model.version} fails evaluation on {spec.key}: " + "; ".join(failed)
            )
        data = _data(spec, found, info.metrics, base_found, base_info)
        verdict = Verdict.REFUSED if refusals else Verdict.PASSED
        return GateResult(self.name, verdict, tuple(checks), tuple(refusals), data)


def _summary(
    spec: EvaluationSpec,
    found: Evaluated,
    version: int,
    deployed: Any,
    base_found: Evaluated | None,
) -> str:
    measured = found.measurement
    assert measured is not None  # noqa: S101 (the gate checked it)
    dataset = found.dataset
    where = (
        f"{dataset.name} v{dataset.version} (sha256 {dataset.sha256[:12]}…)"
        if dataset
        else spec.key
    )
    pinned = "" if spec.pinned_version is not None else f" ({spec.key} resolved)"
    text = f"v{version} measured on {where}{pinned}, {measured.rows} rows"
    if deployed is None:
        return text + "; nothing runs to compare with"
    if base_found is None or base_found.measurement is None:
        why = base_found.error if base_found and base_found.error else "not evaluated"
        return text + f"; running v{deployed.version} not compared ({why})"
    return text + f"; running v{deployed.version} on the same set"


def _data(
    spec: EvaluationSpec,
    found: Evaluated,
    claimed: Mapping[str, float],
    base_found: Evaluated | None,
    base_info: ModelCandidate | None,
) -> dict[str, Any]:
    measured = found.measurement
    assert measured is not None  # noqa: S101 (the gate checked it)
    baseline = base_found.measurement if base_found else None
    dataset = found.dataset
    data: dict[str, Any] = {
        "dataset": {
            "ref": spec.key,
            "name": dataset.name if dataset else spec.dataset,
            "version": dataset.version if dataset else None,
            "sha256": dataset.sha256 if dataset else None,
        },
        "rows": measured.rows,
        "running_version": base_info.version if base_info else None,
        "table": table(spec, measured, baseline, claimed),
        "claim_tolerance": spec.claim_tolerance,
        "classes": [],
        "confusions": [],
        "newly_wrong": [],
        "latency": {},
        "latency_same_run": False,
    }
    if baseline is not None and base_info is not None:
        data["classes"] = class_deltas(measured, baseline)
        data["confusions"] = new_confusions(measured, baseline)
        data["newly_wrong"] = newly_wrong(measured, baseline)
        together = found.latency_vs.get(base_info.primary_sha256)
        pairs = together if together is not None else latency_pairs(measured, baseline)
        data["latency"] = latency_ratios(pairs)
        data["latency_same_run"] = together is not None
    return data
