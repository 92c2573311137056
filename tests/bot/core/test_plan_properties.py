"""Properties of the planner over generated worlds (hypothesis).

Worlds: up to 8 image builds and 6 model versions with random signatures, metrics,
archived flags and aliases; three environments pinning random builds/versions (or nothing).
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.model import Candidates, EnvState, ImagePin, ModelPin, State
from bot.core.plan import Promotion, apply, plan
from bot.policy import PromotionPolicy
from tests.bot.core.builders import HOUR, NOW, SIG, SIG2, image, ipin, model, mpin, policy

SIGS = st.sampled_from([SIG, SIG2, None])
ENVS = ("dev", "staging", "prod")


@st.composite
def worlds(draw: st.DrawFn) -> tuple[State, Candidates, PromotionPolicy]:
    builds = draw(st.sets(st.integers(1, 8), max_size=8))
    images = [image(b, draw(SIGS)) for b in sorted(builds)]
    versions = draw(st.sets(st.integers(1, 6), max_size=6))
    alias_on = draw(st.one_of(st.none(), st.sampled_from(sorted(versions) or [1])))
    models = [
        model(
            v,
            draw(st.sampled_from([0.5, 0.9, 0.91, 0.93, 0.95, 0.97, None])),
            draw(SIGS),
            aliases=("champion",) if v == alias_on else (),
            archived=draw(st.booleans()),
        )
        for v in sorted(versions)
    ]
    envs = []
    for name in ENVS:
        build = draw(st.one_of(st.none(), st.integers(1, 8)))
        version = draw(st.one_of(st.none(), st.integers(1, 6)))
        hours = draw(st.one_of(st.none(), st.integers(0, 72)))
        changed = None if hours is None else NOW - hours * HOUR
        envs.append(
            EnvState(
                name,
                image=None if build is None else ipin(build),
                model=None if version is None else mpin(version),
                changed_at=changed,
            )
        )
    selector = draw(st.sampled_from([{}, {"alias": "champion"}]))
    soak = draw(st.sampled_from(["0s", "1h"]))
    pol = policy(dev={"model_selector": selector}, staging={"soak": soak})
    return State({e.env: e for e in envs}), Candidates(tuple(images), tuple(models)), pol


def _build(pin: ImagePin | None) -> int | None:
    return None if pin is None or pin.tag is None else int(pin.tag.split("-")[1])


def _all_promotions(result_envs: tuple[Promotion | None, ...]) -> list[Promotion]:
    return [p for p in result_envs if p is not None]


def _moves(state: State, cands: Candidates, pol: PromotionPolicy) -> list[Promotion]:
    result = plan(state, cands, pol, NOW)
    return _all_promotions(tuple(e.promotion for e in result.envs)) + _all_promotions(
        tuple(e.held for e in result.envs)
    )


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_plan_never_downgrades(world: tuple[State, Candidates, PromotionPolicy]):
    state, cands, pol = world
    for promo in _moves(state, cands, pol):
        if promo.image is not None and promo.image.before is not None:
            before, after = _build(promo.image.before), _build(promo.image.after)
            assert before is not None and after is not None
            assert after >= before, promo
        if promo.model is not None and promo.model.before is not None:
            assert promo.model.after.version >= promo.model.before.version, promo


def _signature_of_image(cands: Candidates, pin: ImagePin | None) -> str | None:
    found = cands.image_by_digest(pin.digest) if pin is not None and pin.digest else None
    return found.input_signature if found else None


def _signature_of_model(cands: Candidates, pin: ModelPin | None) -> str | None:
    found = cands.model(pin.name, pin.version) if pin is not None else None
    return found.signature_key if found else None


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_plan_never_proposes_an_incompatible_pair(
    world: tuple[State, Candidates, PromotionPolicy],
):
    state, cands, pol = world
    for promo in _moves(state, cands, pol):
        current = state.get(promo.env)
        final_image = promo.image.after if promo.image else current.image
        final_model = promo.model.after if promo.model else current.model
        if final_image is None or final_model is None:
            continue
        image_sig = _signature_of_image(cands, final_image)
        assert image_sig is not None, promo
        assert image_sig == _signature_of_model(cands, final_model), promo


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_every_promoted_model_passes_the_metric_gates(
    world: tuple[State, Candidates, PromotionPolicy],
):
    state, cands, pol = world
    for promo in _moves(state, cands, pol):
        if promo.model is None or promo.env != "dev":
            continue
        found = cands.model(promo.model.after.name, promo.model.after.version)
        assert found is not None and not found.archived
        assert found.metrics["accuracy"] >= 0.9
        before = (
            cands.model(promo.model.before.name, promo.model.before.version)
            if (promo.model.before)
            else None
        )
        if before is not None and "accuracy" in before.metrics:
            assert found.metrics["accuracy"] >= before.metrics["accuracy"] - 0.02 - 1e-9


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_replanning_after_applying_leaves_the_promoted_first_env_alone(
    world: tuple[State, Candidates, PromotionPolicy],
):
    state, cands, pol = world
    first = plan(state, cands, pol, NOW)
    second = plan(apply(state, first), cands, pol, NOW)
    assert second.env("dev").promotion is None, second.env("dev")
    assert second.env("dev").held is None


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_repeated_runs_converge_within_one_round_per_environment(
    world: tuple[State, Candidates, PromotionPolicy],
):
    state, cands, pol = world
    now = NOW
    for _ in range(len(ENVS) + 1):
        result = plan(state, cands, pol, now)
        if result.is_empty:
            break
        state = apply(state, result)
        now += timedelta(days=30)
    assert plan(state, cands, pol, now).is_empty


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_plan_is_deterministic(world: tuple[State, Candidates, PromotionPolicy]):
    state, cands, pol = world
    assert plan(state, cands, pol, NOW) == plan(state, cands, pol, NOW)
