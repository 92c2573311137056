"""The pure planner: current pins + candidates + policy + clock -> promotions, with reasons.

Every move is judged by the gates (`bot/core/gates.py`), run in the configured order; the
first environment's model selection runs them on each model it considers. The results are
in `bot/core/result.py`. Rules (each one is a test in tests/bot/core/test_plan.py):

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

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.core.gates import (
    DEFAULT_GATES,
    Candidate,
    Check,
    Evidence,
    Gate,
    GateResult,
    Verdict,
    image_forward,
    model_forward,
)
from bot.core.model import (
    Candidates,
    EnvState,
    ImageCandidate,
    ImagePin,
    ModelCandidate,
    ModelPin,
    State,
)
from bot.core.policy import EnvironmentPolicy, PromotionPolicy
from bot.core.result import EnvPlan, ImageChange, ModelChange, Plan, Promotion
from bot.core.tags import TagPolicy

__all__ = [
    "Check",
    "EnvPlan",
    "GateResult",
    "ImageChange",
    "ModelChange",
    "Plan",
    "Promotion",
    "apply",
    "plan",
    "tags_to_inspect",
    "would_follow",
]


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
    gates: Sequence[Gate]

    @property
    def tag_policy(self) -> TagPolicy:
        return self.policy.tag_policy(self.env.name)

    @property
    def evidence(self) -> Evidence:
        return Evidence(
            self.env, self.tag_policy, self.current, self.state, self.candidates, self.now
        )

    @property
    def deployed_model(self) -> ModelCandidate | None:
        return _model_candidate(self.candidates, self.current.model)

    def judge(
        self, image: ImagePin | None, model: ModelPin | None
    ) -> tuple[Candidate, tuple[GateResult, ...]]:
        """Run the gates, in order, on the move to `image` / `model` (None: that part stays)."""
        candidate = Candidate(
            image=image or self.current.image,
            model=model or self.current.model,
            image_moves=image is not None,
            model_moves=model is not None,
        )
        evidence = self.evidence
        return candidate, tuple(gate.evaluate(candidate, evidence) for gate in self.gates)

    def no_change(self, reasons: Iterable[str]) -> EnvPlan:
        return EnvPlan(self.env.name, self.env.overlay, reasons=tuple(_dedupe(reasons)))


def _same_image(a: ImagePin | None, b: ImagePin | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.new_name, a.tag, a.digest) == (b.new_name, b.tag, b.digest)


def _image_info(candidates: Candidates, pin: ImagePin | None) -> ImageCandidate | None:
    if pin is None or pin.digest is None:
        return None
    return candidates.image_by_digest(pin.digest)


def _model_candidate(candidates: Candidates, pin: ModelPin | None) -> ModelCandidate | None:
    return None if pin is None else candidates.model(pin.name, pin.version)


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _refusals(results: Iterable[GateResult]) -> list[str]:
    return [reason for r in results if r.verdict is Verdict.REFUSED for reason in r.reasons]


def _finish(
    ctx: _Ctx, image: ImageChange | None, model: ModelChange | None, reasons: list[str]
) -> EnvPlan:
    """Run the gates on the move: refused (nothing moves), held (a time gate says not yet) or
    a promotion carrying every gate's evidence."""
    _, results = ctx.judge(image.after if image else None, model.after if model else None)
    refusals = _refusals(results)
    if refusals:
        return ctx.no_change(refusals)
    promotion = Promotion(
        env=ctx.env.name,
        overlay=ctx.env.overlay,
        image=image,
        model=model,
        checks=tuple(check for r in results for check in r.checks),
        reasons=tuple(_dedupe(reasons)),
        gates=results,
    )
    hold = [reason for r in results if r.verdict is Verdict.HELD for reason in r.reasons]
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
    reasons.extend(f"tag {tag} skipped: {why}" for tag, why in ctx.candidates.skipped.items())
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
    if image_forward(ctx.tag_policy, ctx.current.image, pin) or ctx.env.allow_downgrade:
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
        if model_forward(current, model.pin()) or ctx.env.allow_downgrade:
            selectable.append(model)
        elif alias is not None and current is not None:
            reasons.append(
                f"model alias {alias!r} points at v{model.version}, older than deployed "
                f"v{current.version}: not downgrading"
            )
    return selectable


def _pick_model(
    ctx: _Ctx,
    selectable: list[ModelCandidate],
    image: ImagePin | None,
    image_sig: str | None,
    *,
    paired: bool = True,
) -> tuple[ModelCandidate | None, list[str]]:
    """The model to run with `image` (None: the deployed one) serving `image_sig`: (new model
    or None, why). The newest selectable version the image can serve (any version when no
    image is pinned: `paired=False`); if a gate refuses it the model stays, older ones are not
    tried (or a model could ratchet down through `max_drop` one small step per run)."""
    for model in selectable:
        if paired and (image_sig is None or model.signature_key != image_sig):
            continue
        if model.pin() == ctx.current.model:
            return None, []
        _, results = ctx.judge(image, model.pin())
        refusals = _refusals(results)
        return (None, refusals) if refusals else (model, [])
    return None, []


_Outcome = tuple[ImageChange | None, ModelChange | None]


def _with_new_image(
    ctx: _Ctx, image: ImageCandidate, selectable: list[ModelCandidate], reasons: list[str]
) -> _Outcome | None:
    """Move to the new image, with a new model if one it serves is selectable."""
    sig = image.input_signature
    pin = image.pin(ctx.policy.image_name)
    model, why = _pick_model(ctx, selectable, pin, sig)
    reasons.extend(why)
    if model is not None:
        return _image_change(ctx, pin), _model_change(ctx, model.pin(), model)
    deployed = ctx.deployed_model
    deployed_sig = deployed.signature_key if deployed else None
    if ctx.current.model is None or (sig is not None and deployed_sig == sig):
        return _image_change(ctx, pin), None
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
    found = _image_info(ctx.candidates, ctx.current.image)
    image_sig = found.input_signature if found else None
    if ctx.current.image is None:
        model, why = _pick_model(ctx, selectable, None, None, paired=False)
    elif image_sig is None:
        model, why = (
            None,
            [
                "the deployed image's signature is unknown (no label, or its digest was "
                "not inspected): cannot pair a new model with it"
            ],
        )
    else:
        model, why = _pick_model(ctx, selectable, None, image_sig)
        if model is None and not why:
            top = newer[0]
            why = [
                f"model v{top.version} has signature {top.signature_key or 'unknown'}, which "
                f"the deployed image ({image_sig}) does not serve: model held"
            ]
    reasons.extend(why)
    if model is None:
        return None
    return None, _model_change(ctx, model.pin(), model)


def _plan_first(ctx: _Ctx) -> EnvPlan:
    reasons: list[str] = []
    new_image = _target_image(ctx, reasons)
    selectable = _selectable_models(ctx, reasons)
    outcome = _with_new_image(ctx, new_image, selectable, reasons) if new_image else None
    if outcome is None:
        outcome = _model_alone(ctx, selectable, reasons)
    if outcome is None:
        return ctx.no_change(reasons)
    image, model = outcome
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
    return _finish(ctx, image, model, [*why, *reasons])


# --------------------------------------------------------------------------- later environments


def _follow_pins(
    current: EnvState, source: EnvState, image_name: str
) -> tuple[ImagePin | None, ModelPin | None]:
    """The pins of `source` that `current` lacks (None: already the same)."""
    target_image = replace(source.image, name=image_name) if source.image else None
    new_image = None if _same_image(current.image, target_image) else target_image
    new_model = None if source.model == current.model else source.model
    return new_image, new_model


def would_follow(current: EnvState, source: EnvState) -> bool:
    """Whether a later environment at `current` has pins of its previous one, at `source`,
    to take: only then does its plan run the gates, and so read `source.deployment` (the
    shell reads the forge for no other environment, `bot.deployments.with_deployments`)."""
    new_image, new_model = _follow_pins(current, source, "")
    return new_image is not None or new_model is not None


def _plan_follow(ctx: _Ctx) -> EnvPlan:
    previous = ctx.env.source.previous
    assert previous is not None  # noqa: S101 (validated: every later env has a previous)
    source = ctx.state.get(previous)
    new_image, new_model = _follow_pins(ctx.current, source, ctx.policy.image_name)
    if new_image is None and new_model is None:
        if source.image is None and source.model is None:
            return ctx.no_change([f"{previous} pins nothing yet"])
        return ctx.no_change([f"up to date with {previous}"])
    image = _image_change(ctx, new_image) if new_image else None
    model_info = _model_candidate(ctx.candidates, new_model)
    model = _model_change(ctx, new_model, model_info) if new_model else None
    return _finish(ctx, image, model, [f"{previous} runs it"])


# --------------------------------------------------------------------------- entry points


def plan(
    state: State,
    candidates: Candidates,
    policy: PromotionPolicy,
    now: datetime,
    gates: Sequence[Gate] = DEFAULT_GATES,
) -> Plan:
    """Decide, for every environment in order, what to promote now and why (pure).

    Each environment is planned against the CURRENT pins of the one before it (not against
    that one's planned move): promotions travel one environment per merged PR. Every move
    passes `gates` in order (bot/core/gates.py).
    """
    if now.tzinfo is None:
        raise ValueError("plan() needs a timezone-aware `now`")
    env_plans = []
    for env_policy in policy.environments:
        ctx = _Ctx(env_policy, state.get(env_policy.name), candidates, policy, state, now, gates)
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
    state: State,
    tags: Iterable[str],
    policy: PromotionPolicy,
    skipped: Collection[str] = (),
) -> tuple[str | None, set[str]]:
    """What discovery must inspect: (the tag the first environment's policy picks, passing over
    the `skipped` ones, digests pinned by any environment). API calls then grow with
    environments, not with tags."""
    latest = policy.tag_policy(policy.first.name).latest(t for t in tags if t not in skipped)
    digests = {
        env.image.digest
        for env in (state.get(name) for name in policy.names)
        if env.image is not None and env.image.digest
    }
    return latest, digests
