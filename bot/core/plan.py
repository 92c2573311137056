"""The pure planner: current pins + candidates + policy + clock -> promotions, with reasons.

Rules (each one is a test in tests/bot/core/test_plan.py):

* One promotion per environment at a time: a promotion moves the image, the model, or both.
* Only forward moves: a newer tag by the environment's tag policy, a higher model version.
  A move backwards is refused (with the reason) unless the environment has `allow_downgrade`.
* Never an incompatible pair: the image's `io.modelops.model.input-signature` label must equal
  the model's signature key. An unknown signature counts as a mismatch.
* The first environment follows the registry and the model store. Its target image is the
  latest tag by the tag policy, only that one: if it cannot serve the deployed model and no
  selectable model serves it, the image is HELD (not swapped for an older compatible image),
  and a newer model that the running image can serve may still move alone. When the new image
  needs a new signature and a model with it is selectable, both move together.
  Model selection: with an alias, the version carrying it; otherwise the newest non-archived
  version compatible with the image it will run with. That version must pass the metric gates;
  if it does not, the model stays (older versions are not tried: trying them would let a
  model ratchet downwards through `max_drop` one small step per run).
* Every later environment takes exactly the pins of the environment before it (what soaked
  is what ships), all or nothing: if any part fails a gate nothing moves.
* Time gates (soak in the previous environment, freeze windows) do not block: they HOLD a
  promotion, reported in `EnvPlan.held`, so a pending PR is not mistaken for a stale one.
* Metric gates apply whenever the model changes; `max_drop`/`max_rise` compare with the
  version deployed in this environment now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.core.model import (
    Candidates,
    EnvState,
    ImageCandidate,
    ImagePin,
    ModelCandidate,
    ModelPin,
    State,
)
from bot.core.policy import EnvironmentPolicy, MetricGate, PromotionPolicy
from bot.core.tags import TagPolicy


@dataclass(frozen=True)
class Check:
    """One gate and its outcome, with the evidence a reviewer reads."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ImageChange:
    before: ImagePin | None
    after: ImagePin
    revision_before: str | None = None
    revision_after: str | None = None


@dataclass(frozen=True)
class ModelChange:
    before: ModelPin | None
    after: ModelPin
    metrics_before: Mapping[str, float] = field(default_factory=dict)
    metrics_after: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Promotion:
    """Move one environment's overlay to new pins."""

    env: str
    overlay: str
    image: ImageChange | None
    model: ModelChange | None
    checks: tuple[Check, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """E.g. `dev: image 0.1.0-41-a → 0.1.0-42-b, model digits v3 → v4`."""
        return f"{self.env}: {self.headline}"

    @property
    def headline(self) -> str:
        """What moves, without the environment: `image 0.1.0-41-a → 0.1.0-42-b, ...`."""
        parts = []
        if self.image is not None:
            before = self.image.before.tag if self.image.before else None
            parts.append(f"image {before or '(none)'} → {self.image.after.tag}")
        if self.model is not None:
            after = self.model.after
            before_v = f"v{self.model.before.version}" if self.model.before else "(none)"
            parts.append(f"model {after.name} {before_v} → v{after.version}")
        return ", ".join(parts)


@dataclass(frozen=True)
class EnvPlan:
    """The outcome for one environment.

    `promotion` is set when the environment should move now. `held` is set when it would
    move but a time gate (soak, freeze window) says not yet. `reasons` always explains.
    """

    env: str
    overlay: str
    promotion: Promotion | None = None
    held: Promotion | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    now: datetime
    envs: tuple[EnvPlan, ...]

    @property
    def promotions(self) -> tuple[Promotion, ...]:
        return tuple(e.promotion for e in self.envs if e.promotion is not None)

    @property
    def is_empty(self) -> bool:
        return not self.promotions

    def env(self, name: str) -> EnvPlan:
        for env_plan in self.envs:
            if env_plan.env == name:
                return env_plan
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`promotion-bot plan --json`)."""
        result: dict[str, Any] = _jsonable(self)
        return result


def _jsonable(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list, frozenset, set)):
        items = [_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, (frozenset, set)) else items
    return value


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Ctx:
    """Everything planning one environment reads."""

    env: EnvironmentPolicy
    current: EnvState
    candidates: Candidates
    policy: PromotionPolicy
    state: State
    now: datetime

    @property
    def tag_policy(self) -> TagPolicy:
        return self.policy.tag_policy(self.env.name)

    @property
    def deployed_model(self) -> ModelCandidate | None:
        return _model_candidate(self.candidates, self.current.model)

    def gate_model(self, model: ModelCandidate) -> list[Check]:
        return metric_checks(self.env.gates.metrics, model, self.current.model, self.deployed_model)

    def no_change(self, reasons: Iterable[str]) -> EnvPlan:
        return EnvPlan(self.env.name, self.env.overlay, reasons=tuple(_dedupe(reasons)))


def _same_image(a: ImagePin | None, b: ImagePin | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.new_name, a.tag, a.digest) == (b.new_name, b.tag, b.digest)


def _image_forward(tag_policy: TagPolicy, current: ImagePin | None, target: ImagePin) -> bool:
    """True unless the target tag orders before the current one (a re-pushed tag is forward)."""
    if current is None or current.tag is None or target.tag is None:
        return True
    return tag_policy.latest([current.tag, target.tag]) == target.tag


def _model_forward(current: ModelPin | None, target: ModelPin) -> bool:
    return current is None or current.name != target.name or target.version >= current.version


def _image_info(candidates: Candidates, pin: ImagePin | None) -> ImageCandidate | None:
    if pin is None or pin.digest is None:
        return None
    return candidates.image_by_digest(pin.digest)


def _image_signature(candidates: Candidates, pin: ImagePin | None) -> str | None:
    found = _image_info(candidates, pin)
    return found.input_signature if found else None


def _model_candidate(candidates: Candidates, pin: ModelPin | None) -> ModelCandidate | None:
    return None if pin is None else candidates.model(pin.name, pin.version)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


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


def _signature_check(image_sig: str | None, model: ModelCandidate | None, what: str) -> Check:
    model_sig = model.signature_key if model else None
    ok = image_sig is not None and image_sig == model_sig
    return Check(
        "signature",
        ok,
        f"{what}: image serves {image_sig or 'an unknown signature'}, "
        f"model has {model_sig or 'an unknown signature'}",
    )


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return f"-{_human(-delta)}"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"


def _time_gates(ctx: _Ctx) -> tuple[list[Check], list[str]]:
    """Soak and freeze checks: (checks, reasons to hold)."""
    checks: list[Check] = []
    hold: list[str] = []
    previous = ctx.env.source.previous
    if previous is not None and ctx.env.soak > timedelta(0):
        since = ctx.state.get(previous).changed_at
        if since is None:
            detail = f"time since {previous} changed is unknown (no Git history)"
            checks.append(Check("soak", False, detail))
            hold.append(f"soak: {detail}")
        else:
            elapsed = ctx.now - since
            detail = f"in {previous} for {_human(elapsed)} (needs {_human(ctx.env.soak)})"
            ready = elapsed >= ctx.env.soak
            checks.append(Check("soak", ready, detail))
            if not ready:
                hold.append(f"soaking: {detail}; ready at {(since + ctx.env.soak).isoformat()}")
    frozen = ctx.env.frozen_until(ctx.now)
    if frozen is not None:
        window, end = frozen
        detail = f"freeze window {window.label!r} open until {end.isoformat()}"
        checks.append(Check("freeze", False, detail))
        hold.append(detail)
    elif ctx.env.freeze_windows:
        checks.append(Check("freeze", True, "no freeze window open"))
    return checks, hold


def _finish(
    ctx: _Ctx,
    image: ImageChange | None,
    model: ModelChange | None,
    checks: list[Check],
    reasons: list[str],
) -> EnvPlan:
    """A promotion, or a held one when a time gate says not yet."""
    time_checks, hold = _time_gates(ctx)
    promotion = Promotion(
        env=ctx.env.name,
        overlay=ctx.env.overlay,
        image=image,
        model=model,
        checks=(*checks, *time_checks),
        reasons=tuple(_dedupe(reasons)),
    )
    if hold:
        reasons_all = tuple(_dedupe([*reasons, *hold]))
        return EnvPlan(ctx.env.name, ctx.env.overlay, held=promotion, reasons=reasons_all)
    return EnvPlan(ctx.env.name, ctx.env.overlay, promotion=promotion, reasons=promotion.reasons)


def _image_change(ctx: _Ctx, after: ImagePin) -> ImageChange:
    before_info = _image_info(ctx.candidates, ctx.current.image)
    after_info = _image_info(ctx.candidates, after)
    return ImageChange(
        before=ctx.current.image,
        after=after,
        revision_before=before_info.revision if before_info else None,
        revision_after=after_info.revision if after_info else None,
    )


def _model_change(ctx: _Ctx, after: ModelPin, after_info: ModelCandidate | None) -> ModelChange:
    deployed = ctx.deployed_model
    return ModelChange(
        before=ctx.current.model,
        after=after,
        metrics_before=dict(deployed.metrics) if deployed else {},
        metrics_after=dict(after_info.metrics) if after_info else {},
    )


# --------------------------------------------------------------------------- first environment


def _target_image(ctx: _Ctx, reasons: list[str]) -> ImageCandidate | None:
    """The image the tag policy points at, if it is a move (forward, unless allowed)."""
    latest = ctx.tag_policy.latest(ctx.candidates.all_tags())
    if latest is None:
        reasons.append("no tag in the registry matches the tag policy")
        return None
    found = ctx.candidates.image_by_tag(latest)
    if found is None:
        reasons.append(f"latest tag {latest} was not inspected (no digest or labels)")
        return None
    pin = found.pin(ctx.policy.image_name)
    if _same_image(ctx.current.image, pin):
        reasons.append(f"image is at the latest tag {latest}")
        return None
    if _image_forward(ctx.tag_policy, ctx.current.image, pin) or ctx.env.allow_downgrade:
        return found
    deployed_tag = ctx.current.image.tag if ctx.current.image else None
    reasons.append(
        f"latest tag {latest} orders before the deployed {deployed_tag}: not downgrading"
    )
    return None


def _selectable_models(ctx: _Ctx, reasons: list[str]) -> list[ModelCandidate]:
    """Versions the model selector allows, newest first (downgrades only when allowed)."""
    current = ctx.current.model
    alias = ctx.env.model_selector.alias if ctx.env.model_selector else None
    models = sorted(
        (m for m in ctx.candidates.models if m.name == ctx.policy.model_name and not m.archived),
        key=lambda m: m.version,
        reverse=True,
    )
    if alias is not None:
        models = [m for m in models if alias in m.aliases][:1]
        if not models:
            reasons.append(f"model alias {alias!r} is not set on any live version")
    selectable = []
    for model in models:
        if _model_forward(current, model.pin()) or ctx.env.allow_downgrade:
            selectable.append(model)
        elif alias is not None and current is not None:
            reasons.append(
                f"model alias {alias!r} points at v{model.version}, older than deployed "
                f"v{current.version}: not downgrading"
            )
    return selectable


_Pick = tuple[ModelCandidate | None, list[Check], list[str]]


def _pick_model(
    ctx: _Ctx, selectable: list[ModelCandidate], image_sig: str | None, *, paired: bool = True
) -> _Pick:
    """The model to run with an image serving `image_sig`: (new model or None, checks, why).

    The newest selectable version the image can serve (any version when no image is pinned:
    `paired=False`); if it fails a gate the model stays, older ones are not tried.
    """
    for model in selectable:
        if paired and (image_sig is None or model.signature_key != image_sig):
            continue
        if model.pin() == ctx.current.model:
            return None, [], []
        checks = ctx.gate_model(model)
        failed = [c.detail for c in checks if not c.passed]
        if failed:
            return None, [], [f"model v{model.version} fails gates: " + "; ".join(failed)]
        return model, checks, []
    return None, [], []


_Outcome = tuple[ImageChange | None, ModelChange | None, list[Check]]


def _with_new_image(
    ctx: _Ctx, image: ImageCandidate, selectable: list[ModelCandidate], reasons: list[str]
) -> _Outcome | None:
    """Move to the new image, with a new model if one it serves is selectable."""
    sig = image.input_signature
    model, model_checks, why = _pick_model(ctx, selectable, sig)
    reasons.extend(why)
    pin = image.pin(ctx.policy.image_name)
    deployed = ctx.deployed_model
    if model is not None:
        checks = [_signature_check(sig, model, "new image with new model"), *model_checks]
        return _image_change(ctx, pin), _model_change(ctx, model.pin(), model), checks
    if ctx.current.model is None:
        return _image_change(ctx, pin), None, []
    deployed_sig = deployed.signature_key if deployed else None
    if sig is not None and deployed_sig == sig:
        check = _signature_check(sig, deployed, "new image with deployed model")
        return _image_change(ctx, pin), None, [check]
    reasons.append(
        f"image {image.tag} serves {sig or 'an unknown signature'} but the deployed model "
        f"has {deployed_sig or 'an unknown signature'} and no selectable model matches it: "
        "image held"
    )
    return None


def _model_alone(
    ctx: _Ctx, selectable: list[ModelCandidate], reasons: list[str]
) -> _Outcome | None:
    """No image move: a new model may still move alone, if the running image serves it."""
    newer = [m for m in selectable if m.pin() != ctx.current.model]
    if not newer:
        if ctx.current.model is not None:
            reasons.append(f"model is at the selected version v{ctx.current.model.version}")
        return None
    image_sig = _image_signature(ctx.candidates, ctx.current.image)
    if ctx.current.image is None:
        model, checks, why = _pick_model(ctx, selectable, None, paired=False)
    elif image_sig is None:
        model, checks, why = (
            None,
            [],
            [
                "the deployed image's signature is unknown (no label, or its digest was "
                "not inspected): cannot pair a new model with it"
            ],
        )
    else:
        model, checks, why = _pick_model(ctx, selectable, image_sig)
        if model is None and not why:
            top = newer[0]
            why = [
                f"model v{top.version} has signature {top.signature_key or 'unknown'}, which "
                f"the deployed image ({image_sig}) does not serve: model held"
            ]
    reasons.extend(why)
    if model is None:
        return None
    if ctx.current.image is not None:
        checks = [_signature_check(image_sig, model, "deployed image with new model"), *checks]
    return None, _model_change(ctx, model.pin(), model), checks


def _plan_first(ctx: _Ctx) -> EnvPlan:
    reasons: list[str] = []
    new_image = _target_image(ctx, reasons)
    selectable = _selectable_models(ctx, reasons)
    outcome = _with_new_image(ctx, new_image, selectable, reasons) if new_image else None
    if outcome is None:
        outcome = _model_alone(ctx, selectable, reasons)
    if outcome is None:
        return ctx.no_change(reasons)
    image, model, checks = outcome
    checks.insert(0, Check("forward", True, "only forward moves"))
    why = []
    if image is not None:
        why.append(f"{image.after.tag} is the latest tag by the tag policy")
    if model is not None:
        alias = ctx.env.model_selector.alias if ctx.env.model_selector else None
        why.append(
            f"model alias {alias!r} points at v{model.after.version}"
            if alias
            else f"v{model.after.version} is the newest version the image serves"
        )
    return _finish(ctx, image, model, checks, [*why, *reasons])


# --------------------------------------------------------------------------- later environments


def _forward_refusals(
    ctx: _Ctx, previous: str, image: ImagePin | None, model: ModelPin | None
) -> tuple[list[str], Check]:
    """Refusals for tags the policy rejects and for backward moves; the forward check."""
    refusals = []
    downgrades = []
    current = ctx.current
    if image is not None and image.tag is not None and ctx.tag_policy.latest([image.tag]) is None:
        refusals.append(f"tag {image.tag} is not accepted by the tag policy")
    elif image is not None and not _image_forward(ctx.tag_policy, current.image, image):
        downgrades.append(
            f"image {image.tag} in {previous} orders before the deployed "
            f"{current.image.tag if current.image else None}"
        )
    if model is not None and not _model_forward(current.model, model):
        downgrades.append(
            f"model v{model.version} in {previous} is older than the deployed "
            f"v{current.model.version if current.model else None}"
        )
    if not downgrades:
        return refusals, Check("forward", True, "only forward moves")
    if ctx.env.allow_downgrade:
        return refusals, Check("forward", True, "downgrade allowed: " + "; ".join(downgrades))
    return [*refusals, *(f"{d}: not downgrading" for d in downgrades)], Check(
        "forward", False, "; ".join(downgrades)
    )


def _model_gate_refusals(
    ctx: _Ctx, model: ModelPin, info: ModelCandidate | None
) -> tuple[list[str], list[Check]]:
    if info is None:
        if ctx.env.gates.metrics:
            return [
                f"model {model.name} v{model.version} is unknown to the model store: "
                "metric gates cannot be checked"
            ], []
        return [], []
    refusals = []
    checks = ctx.gate_model(info)
    failed = [c.detail for c in checks if not c.passed]
    if failed:
        refusals.append(f"model v{model.version} fails gates: " + "; ".join(failed))
    if info.archived:
        refusals.append(f"model v{model.version} is archived")
    return refusals, checks


def _plan_follow(ctx: _Ctx) -> EnvPlan:
    previous = ctx.env.source.previous
    assert previous is not None  # noqa: S101 (validated: every later env has a previous)
    source = ctx.state.get(previous)
    current = ctx.current
    target_image = replace(source.image, name=ctx.policy.image_name) if source.image else None
    new_image = None if _same_image(current.image, target_image) else target_image
    new_model = None if source.model == current.model else source.model
    if new_image is None and new_model is None:
        if source.image is None and source.model is None:
            return ctx.no_change([f"{previous} pins nothing yet"])
        return ctx.no_change([f"up to date with {previous}"])

    refusals, forward = _forward_refusals(ctx, previous, new_image, new_model)
    checks = [forward]
    final_image = new_image or current.image
    final_model = new_model or current.model
    model_info = _model_candidate(ctx.candidates, final_model)
    if final_image is not None and final_model is not None:
        sig_check = _signature_check(
            _image_signature(ctx.candidates, final_image),
            model_info,
            f"{final_image.tag} with {final_model.name} v{final_model.version}",
        )
        checks.append(sig_check)
        if not sig_check.passed:
            refusals.append(f"incompatible pair ({sig_check.detail})")
    if new_model is not None:
        more, gate_checks = _model_gate_refusals(ctx, new_model, model_info)
        refusals.extend(more)
        checks.extend(gate_checks)
    if refusals:
        return ctx.no_change(refusals)
    image = _image_change(ctx, new_image) if new_image else None
    model = _model_change(ctx, new_model, model_info) if new_model else None
    return _finish(ctx, image, model, checks, [f"{previous} runs it"])


# --------------------------------------------------------------------------- entry points


def plan(state: State, candidates: Candidates, policy: PromotionPolicy, now: datetime) -> Plan:
    """Decide, for every environment in order, what to promote now and why (pure).

    Each environment is planned against the CURRENT pins of the one before it (not against
    that one's planned move): promotions travel one environment per merged PR.
    """
    if now.tzinfo is None:
        raise ValueError("plan() needs a timezone-aware `now`")
    env_plans = []
    for env_policy in policy.environments:
        ctx = _Ctx(env_policy, state.get(env_policy.name), candidates, policy, state, now)
        env_plans.append(_plan_first(ctx) if env_policy.is_first else _plan_follow(ctx))
    return Plan(now=now, envs=tuple(env_plans))


def apply(state: State, result: Plan) -> State:
    """The state after every promotion of `result` is merged (overlay changed at `result.now`)."""
    envs = dict(state.envs)
    for promotion in result.promotions:
        before = state.get(promotion.env)
        envs[promotion.env] = EnvState(
            env=promotion.env,
            image=promotion.image.after if promotion.image else before.image,
            model=promotion.model.after if promotion.model else before.model,
            changed_at=result.now,
        )
    return State(envs=envs)


def tags_to_inspect(
    state: State, tags: Iterable[str], policy: PromotionPolicy
) -> tuple[str | None, set[str]]:
    """What discovery must inspect: (the tag the first environment's policy picks, digests
    pinned by any environment). API calls then grow with environments, not with tags."""
    latest = policy.tag_policy(policy.first.name).latest(tags)
    digests = {
        env.image.digest
        for env in (state.get(name) for name in policy.names)
        if env.image is not None and env.image.digest
    }
    return latest, digests
