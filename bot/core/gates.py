"""Gates: the rules a move must pass, each a small pure object with one method.

Like pre-commit's hooks (each small, one result type), every gate is

    class Gate(Protocol):
        name: str  # (read-only)
        def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult: ...

`Candidate` is what the environment would run after the move (and which parts move);
`Evidence` is what is known about it (the environment's policy, what runs now, the registry's
and the model store's facts, the clock). A `GateResult` is PASSED, REFUSED (the move may not
happen; `reasons` say why) or HELD (not yet: time gates), with the evidence rows a reviewer reads
(`checks`, rendered by the PR body's Gates section) and structured `data`. A gate that does not
apply (a signature check with no model pinned) passes with no rows.

The planner runs `DEFAULT_GATES` in order for every move (and, in the first environment, for
each model it considers); `plan(..., gates=...)` takes another list. A new gate is one class
plus its policy field: e.g. the evaluation gate (`bot/core/evaluation.py`, its settings
`Gates.evaluation`, the measured facts in `ModelCandidate.evaluations` filled by the shell).

The PR body renders its row like any other; tests/bot/core/test_gates.py runs such an added
gate (refusing, and holding) through the planner.

Why one module over 450 lines: the default gate list and its order are the policy a reviewer
audits, so every gate stands beside it; each gate is still one small class.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.core.confirm import soak_verdict
from bot.core.model import (
    Candidates,
    EnvState,
    ImageCandidate,
    ImagePin,
    ModelCandidate,
    ModelPin,
    State,
)
from bot.core.policy import EnvironmentPolicy, MetricGate
from bot.core.rollback import same_image
from bot.core.tags import TagPolicy


class Verdict(enum.Enum):
    PASSED = "passed"
    REFUSED = "refused"  # the move may not happen
    HELD = "held"  # not yet: the promotion waits (soak, freeze window), its PR stays open


@dataclass(frozen=True)
class Check:
    """One row of evidence a reviewer reads: `✅ **name**: detail`."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateResult:
    """What one gate says about one candidate."""

    gate: str
    verdict: Verdict
    checks: tuple[Check, ...] = ()
    reasons: tuple[str, ...] = ()  # why it refuses or holds, for the plan's reasons
    data: Mapping[str, Any] = field(default_factory=dict)  # JSON-ready structured evidence

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED


@dataclass(frozen=True)
class Candidate:
    """The pins an environment would run after a move, and which of them move."""

    image: ImagePin | None
    model: ModelPin | None
    image_moves: bool = False
    model_moves: bool = False


@dataclass(frozen=True)
class Evidence:
    """What the gates may read about a candidate; nothing here does I/O."""

    env: EnvironmentPolicy
    tag_policy: TagPolicy
    current: EnvState  # what the environment runs now
    state: State  # every environment's pins (soak reads the previous one's change time)
    candidates: Candidates  # the registry's and the model store's facts
    now: datetime

    def image_info(self, pin: ImagePin | None) -> ImageCandidate | None:
        if pin is None or pin.digest is None:
            return None
        return self.candidates.image_by_digest(pin.digest)

    def model_info(self, pin: ModelPin | None) -> ModelCandidate | None:
        return None if pin is None else self.candidates.model(pin.name, pin.version)


class Gate(Protocol):
    @property
    def name(self) -> str:
        """The gate's name in results and in the PR body."""
        ...

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        """Judge `candidate` on `evidence` (pure)."""
        ...


def _result(name: str, checks: list[Check], refusals: list[str], **data: Any) -> GateResult:
    verdict = Verdict.REFUSED if refusals else Verdict.PASSED
    return GateResult(name, verdict, tuple(checks), tuple(refusals), data)


# --------------------------------------------------------------------------- forward only


def image_forward(tag_policy: TagPolicy, current: ImagePin | None, target: ImagePin) -> bool:
    """True unless the target tag orders before the current one (a re-pushed tag is forward)."""
    if current is None or current.tag is None or target.tag is None:
        return True
    return tag_policy.latest([current.tag, target.tag]) == target.tag


def model_forward(current: ModelPin | None, target: ModelPin) -> bool:
    return current is None or current.name != target.name or target.version >= current.version


@dataclass(frozen=True)
class ForwardOnly:
    """A newer tag by the tag policy, a higher model version; a move backwards is refused
    unless the environment has `allow_downgrade`. A tag the policy rejects is refused."""

    name: str = "forward"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        refusals: list[str] = []
        downgrades: list[str] = []
        current = evidence.current
        previous = evidence.env.source.previous
        where = f" in {previous}" if previous else ""
        image, model = candidate.image, candidate.model
        if candidate.image_moves and image is not None:
            if image.tag is not None and evidence.tag_policy.latest([image.tag]) is None:
                refusals.append(f"tag {image.tag} is not accepted by the tag policy")
            elif not image_forward(evidence.tag_policy, current.image, image):
                downgrades.append(
                    f"image {image.tag}{where} orders before the deployed "
                    f"{current.image.tag if current.image else None}"
                )
        if candidate.model_moves and model is not None and not model_forward(current.model, model):
            downgrades.append(
                f"model v{model.version}{where} is older than the deployed "
                f"v{current.model.version if current.model else None}"
            )
        allowed = evidence.env.allow_downgrade
        if not downgrades:
            check = Check(self.name, True, "only forward moves")
        elif allowed:
            check = Check(self.name, True, "downgrade allowed: " + "; ".join(downgrades))
        else:
            check = Check(self.name, False, "; ".join(downgrades))
            refusals += [f"{d}: not downgrading" for d in downgrades]
        return _result(self.name, [check], refusals, downgrades=downgrades, allowed=allowed)


# --------------------------------------------------------------------------- signature


@dataclass(frozen=True)
class Signature:
    """Never an incompatible pair: the image's input-signature label must equal the model's
    signature key; an unknown signature counts as a mismatch."""

    name: str = "signature"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        image, model = candidate.image, candidate.model
        if image is None or model is None:
            return GateResult(self.name, Verdict.PASSED)
        if evidence.env.is_first:
            what = (
                f"{'new' if candidate.image_moves else 'deployed'} image with "
                f"{'new' if candidate.model_moves else 'deployed'} model"
            )
        else:
            what = f"{image.tag} with {model.name} v{model.version}"
        found = evidence.image_info(image)
        image_sig = found.input_signature if found else None
        info = evidence.model_info(model)
        model_sig = info.signature_key if info else None
        ok = image_sig is not None and image_sig == model_sig
        detail = (
            f"{what}: image serves {image_sig or 'an unknown signature'}, "
            f"model has {model_sig or 'an unknown signature'}"
        )
        refusals = [] if ok else [f"incompatible pair ({detail})"]
        return _result(
            self.name,
            [Check(self.name, ok, detail)],
            refusals,
            image_signature=image_sig,
            model_signature=model_sig,
        )


# --------------------------------------------------------------------------- metrics


def _fmt(value: float) -> str:
    return f"{value:g}"


def _relative_problems(
    metric: str,
    gate: MetricGate,
    value: float,
    deployed: ModelPin | None,
    baseline: ModelCandidate | None,
) -> tuple[str, list[str]]:
    """(detail suffix, problems) of the `max_drop` / `max_rise` bounds."""
    if gate.max_drop is None and gate.max_rise is None:
        return "", []
    if deployed is None:
        return " (nothing deployed to compare with)", []
    if baseline is None:
        return "", [f"deployed v{deployed.version} is unknown to the model store"]
    if metric not in baseline.metrics:
        return f" (deployed v{baseline.version} reports no {metric})", []
    old = baseline.metrics[metric]
    delta = value - old
    problems = []
    if gate.max_drop is not None and -delta > gate.max_drop + 1e-12:
        problems.append(f"drops more than {_fmt(gate.max_drop)}")
    if gate.max_rise is not None and delta > gate.max_rise + 1e-12:
        problems.append(f"rises more than {_fmt(gate.max_rise)}")
    return f" vs {_fmt(old)} deployed (Δ {delta:+g})", problems


def metric_checks(
    gates: Mapping[str, MetricGate],
    target: ModelCandidate,
    deployed: ModelPin | None,
    baseline: ModelCandidate | None,
) -> list[Check]:
    """Evaluate every metric gate of an environment for a model about to be deployed.

    `deployed` is the pin running now (None: nothing runs) and `baseline` its manifest data.
    """
    checks = []
    for metric, gate in sorted(gates.items()):
        name = f"metric {metric}"
        value = target.metrics.get(metric)
        if value is None:
            checks.append(Check(name, False, f"v{target.version} reports no {metric}"))
            continue
        problems = []
        if gate.min is not None and value < gate.min:
            problems.append(f"below min {_fmt(gate.min)}")
        if gate.max is not None and value > gate.max:
            problems.append(f"above max {_fmt(gate.max)}")
        suffix, relative = _relative_problems(metric, gate, value, deployed, baseline)
        problems.extend(relative)
        detail = f"{metric} {_fmt(value)}{suffix}"
        if problems:
            detail += ": " + ", ".join(problems)
        checks.append(Check(name, not problems, detail))
    return checks


@dataclass(frozen=True)
class Metrics:
    """The environment's metric bounds (`gates: metrics:`), whenever the model changes;
    `max_drop` / `max_rise` compare with the version deployed in this environment now."""

    name: str = "metrics"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        model = candidate.model
        bounds = evidence.env.gates.metrics
        if not candidate.model_moves or model is None or not bounds:
            return GateResult(self.name, Verdict.PASSED)
        info = evidence.model_info(model)
        if info is None:
            return _result(
                self.name,
                [],
                [
                    f"model {model.name} v{model.version} is unknown to the model store: "
                    "metric gates cannot be checked"
                ],
            )
        deployed = evidence.current.model
        checks = metric_checks(bounds, info, deployed, evidence.model_info(deployed))
        failed = [c.detail for c in checks if not c.passed]
        refusals = [f"model v{model.version} fails gates: " + "; ".join(failed)] if failed else []
        return _result(self.name, checks, refusals, metrics=dict(info.metrics))


@dataclass(frozen=True)
class Live:
    """An archived model version is withdrawn: it is never promoted further."""

    name: str = "live"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        info = evidence.model_info(candidate.model) if candidate.model_moves else None
        if info is None or not info.archived:
            return GateResult(self.name, Verdict.PASSED)
        return _result(self.name, [], [f"model v{info.version} is archived"])


@dataclass(frozen=True)
class RolledBack:
    """Rollbacks stick: a pin a person rolled this environment back from (a revert, `set`, a
    hand edit: `bot.core.rollback`) is never proposed again; a newer candidate passes, with a
    row saying what was rolled back and by which commit."""

    name: str = "rollback"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        image, model = candidate.image, candidate.model
        relevant = [
            r
            for r in evidence.current.rolled_back
            if (r.image is not None and candidate.image_moves)
            or (r.model is not None and candidate.model_moves)
        ]
        if not relevant:
            return GateResult(self.name, Verdict.PASSED)
        checks: list[Check] = []
        refusals: list[str] = []
        for r in relevant:
            hit = (r.image is not None and image is not None and same_image(r.image, image)) or (
                r.model is not None and r.model == model
            )
            if hit:
                checks.append(Check(self.name, False, r.describe()))
                refusals.append(f"{r.describe()}: not proposing it again")
            else:
                checks.append(
                    Check(self.name, True, f"an earlier candidate, {r.describe()}; this is another")
                )
        data = {"rolled_back": [{"what": r.what, "commit": r.sha} for r in relevant]}
        return _result(self.name, checks, refusals, **data)


# --------------------------------------------------------------------------- time gates


def _held(name: str, check: Check, reason: str, **data: Any) -> GateResult:
    return GateResult(name, Verdict.HELD, (check,), (reason,), data)


@dataclass(frozen=True)
class Soak:
    """The pins soak in the previous environment before they move on: it must have CONFIRMED
    running them (its controller's commit status on its release, `bot.core.confirm`) for
    `soak`, counted from the first success with no failure since; until then the promotion is
    held. A missing status never counts; the clock is the forge's, never a commit date."""

    name: str = "soak"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        previous = evidence.env.source.previous
        if previous is None:
            return GateResult(self.name, Verdict.PASSED)
        verdict = soak_verdict(
            previous,
            evidence.state.get(previous).deployment,
            soak=evidence.env.soak,
            mode=evidence.env.confirm,
            now=evidence.now,
        )
        check = Check(self.name, verdict.soaked, verdict.detail)
        data = dict(verdict.data or {})
        if verdict.soaked:
            return GateResult(self.name, Verdict.PASSED, (check,), (), data)
        return _held(self.name, check, f"soaking: {verdict.detail}", **data)


@dataclass(frozen=True)
class Holds:
    """An operator's hold (`promotion-bot hold`, recorded in `deploy/holds.yaml`) holds the
    moves it covers until it is lifted or its `until` passed."""

    name: str = "hold"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        hold = evidence.env.hold
        moves = {"image_moves": candidate.image_moves, "model_moves": candidate.model_moves}
        if hold is None or not hold.active(evidence.now) or not hold.covers(**moves):
            return GateResult(self.name, Verdict.PASSED)
        detail = hold.describe()
        until = hold.until.isoformat() if hold.until else None
        data = {"scope": hold.scope.value, "by": hold.by, "why": hold.reason, "until": until}
        return _held(self.name, Check(self.name, False, detail), detail, **data)


@dataclass(frozen=True)
class Freeze:
    """No promotion while one of the environment's freeze windows is open (held until then)."""

    name: str = "freeze"

    def evaluate(self, candidate: Candidate, evidence: Evidence) -> GateResult:
        if not evidence.env.freeze_windows:
            return GateResult(self.name, Verdict.PASSED)
        frozen = evidence.env.frozen_until(evidence.now)
        if frozen is None:
            check = Check(self.name, True, "no freeze window open")
            return GateResult(self.name, Verdict.PASSED, (check,))
        window, end = frozen
        detail = f"freeze window {window.label!r} open until {end.isoformat()}"
        check = Check(self.name, False, detail)
        return _held(self.name, check, detail, window=window.label, until=end.isoformat())


# The evaluation gate has its own module (it imports this one; `bot/core/__init__.py` imports
# this module first, so either import order works).
from bot.core.evaluation import Evaluation  # noqa: E402

DEFAULT_GATES: tuple[Gate, ...] = (
    ForwardOnly(),
    Signature(),
    Metrics(),
    Evaluation(),
    Live(),
    RolledBack(),
    Holds(),
    Soak(),
    Freeze(),
)
