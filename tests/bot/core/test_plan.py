"""The planner, table-driven: each row is a situation and what every environment should do."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.core.confirm import Deployment
from bot.core.gates import Check, metric_checks
from bot.core.model import Candidates, EnvState, ImagePin, State
from bot.core.plan import EnvPlan, Plan, apply, plan, tags_to_inspect
from bot.core.policy import MetricGate
from tests.bot.core.builders import (
    HOUR,
    NOW,
    REF,
    SIG,
    SIG2,
    candidates,
    digest,
    env,
    image,
    ipin,
    model,
    mpin,
    policy,
    state,
    tag,
)

# expectation per env: (kind, image build after or None, model version after or None, reason)
Expect = tuple[str, int | None, int | None, str | None]


@dataclass
class Case:
    id: str
    state: State
    candidates: Candidates
    expect: dict[str, Expect]
    policy: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: datetime = NOW


SETTLED = state(env("dev", 1, 1, NOW - 48 * HOUR), env("staging", 1, 1, NOW - 48 * HOUR))

FIRST_ENV_CASES = [
    Case(
        "nothing_new",
        SETTLED,
        candidates([image(1)], [model(1)]),
        {"dev": ("none", None, None, "image is at the latest tag 0.1.0-1-abc0001")},
    ),
    Case(
        "nothing_new_model_reason",
        SETTLED,
        candidates([image(1)], [model(1)]),
        {"dev": ("none", None, None, "model is at the selected version v1")},
    ),
    Case(
        "new_image_same_signature_moves_alone",
        SETTLED,
        candidates([image(1), image(2)], [model(1)]),
        {"dev": ("promote", 2, None, "0.1.0-2-abc0002 is the latest tag by the tag policy")},
    ),
    Case(
        "new_model_moves_alone_when_running_image_serves_it",
        SETTLED,
        candidates([image(1)], [model(1), model(2, 0.96)]),
        {"dev": ("promote", None, 2, "v2 is the newest version the image serves")},
    ),
    Case(
        "new_image_and_new_model_move_together",
        SETTLED,
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"dev": ("promote", 2, 2, None)},
    ),
    Case(
        "new_signature_image_waits_for_a_model_with_that_signature",
        SETTLED,
        candidates([image(1), image(2, SIG2)], [model(1)]),
        {"dev": ("none", None, None, "image held")},
    ),
    Case(
        "new_signature_image_and_matching_model_go_together",
        SETTLED,
        candidates([image(1), image(2, SIG2)], [model(1), model(2, sig=SIG2)]),
        {"dev": ("promote", 2, 2, None)},
    ),
    Case(
        "held_new_image_still_lets_a_model_the_running_image_serves_move",
        SETTLED,
        candidates([image(1), image(2, SIG2)], [model(1), model(2)]),
        {"dev": ("promote", None, 2, "image held")},
    ),
    Case(
        "new_signature_model_waits_for_an_image_serving_it",
        SETTLED,
        candidates([image(1)], [model(1), model(2, sig=SIG2)]),
        {"dev": ("none", None, None, "model held")},
    ),
    Case(
        "new_image_pairs_with_newest_model_it_serves_not_the_newest_overall",
        SETTLED,
        candidates([image(1), image(2)], [model(1), model(2), model(3, sig=SIG2)]),
        {"dev": ("promote", 2, 2, None)},
    ),
    Case(
        "image_with_unknown_signature_is_held",
        SETTLED,
        candidates([image(1), image(2, None)], [model(1)]),
        {"dev": ("none", None, None, "serves an unknown signature")},
    ),
    Case(
        "model_below_min_is_refused",
        SETTLED,
        candidates([image(1)], [model(1), model(2, 0.85)]),
        {"dev": ("none", None, None, "below min 0.9")},
    ),
    Case(
        "model_dropping_too_much_is_refused",
        SETTLED,
        candidates([image(1)], [model(1, 0.97), model(2, 0.94)]),
        {"dev": ("none", None, None, "drops more than 0.02")},
    ),
    Case(
        "failing_newest_model_does_not_fall_back_to_an_older_one",
        SETTLED,
        candidates([image(1)], [model(1, 0.95), model(2, 0.94), model(3, 0.5)]),
        {"dev": ("none", None, None, "model v3 fails gates")},
    ),
    Case(
        "new_image_moves_with_deployed_model_when_new_model_fails_gates",
        SETTLED,
        candidates([image(1), image(2)], [model(1), model(2, 0.5)]),
        {"dev": ("promote", 2, None, "model v2 fails gates")},
    ),
    Case(
        "model_without_gated_metric_is_refused",
        SETTLED,
        candidates([image(1)], [model(1), model(2, None)]),
        {"dev": ("none", None, None, "v2 reports no accuracy")},
    ),
    Case(
        "deployed_model_unknown_to_store_blocks_relative_gate",
        SETTLED,
        candidates([image(1)], [model(2)]),
        {"dev": ("none", None, None, "deployed v1 is unknown to the model store")},
    ),
    Case(
        "deployed_model_without_the_metric_passes_relative_gate",
        SETTLED,
        candidates([image(1)], [model(1, None), model(2)]),
        {"dev": ("promote", None, 2, None)},
    ),
    Case(
        "archived_versions_are_never_selected",
        SETTLED,
        candidates([image(1)], [model(1), model(2, archived=True)]),
        {"dev": ("none", None, None, "model is at the selected version v1")},
    ),
    Case(
        "alias_selects_its_version_not_the_newest",
        SETTLED,
        candidates([image(1)], [model(1), model(2, aliases=("champion",)), model(3)]),
        {"dev": ("promote", None, 2, "model alias 'champion' points at v2")},
        policy={"dev": {"model_selector": {"alias": "champion"}}},
    ),
    Case(
        "alias_missing_is_explained",
        SETTLED,
        candidates([image(1)], [model(1), model(2)]),
        {"dev": ("none", None, None, "alias 'champion' is not set")},
        policy={"dev": {"model_selector": {"alias": "champion"}}},
    ),
    Case(
        "alias_pointing_back_is_not_followed",
        state(env("dev", 1, 2, NOW)),
        candidates([image(1)], [model(1, aliases=("champion",)), model(2)]),
        {"dev": ("none", None, None, "older than deployed v2: not downgrading")},
        policy={"dev": {"model_selector": {"alias": "champion"}}},
    ),
    Case(
        "alias_pointing_back_is_followed_when_downgrades_are_allowed",
        state(env("dev", 1, 2, NOW)),
        candidates([image(1)], [model(1, aliases=("champion",)), model(2)]),
        {"dev": ("promote", None, 1, None)},
        policy={"dev": {"model_selector": {"alias": "champion"}, "allow_downgrade": True}},
    ),
    Case(
        "older_latest_tag_is_not_a_downgrade_target",
        state(env("dev", 5, 1, NOW)),
        candidates([image(3)], [model(1)]),
        {"dev": ("none", None, None, "orders before the deployed 0.1.0-5-abc0005")},
    ),
    Case(
        "older_latest_tag_is_taken_when_downgrades_are_allowed",
        state(env("dev", 5, 1, NOW)),
        candidates([image(3)], [model(1)]),
        {"dev": ("promote", 3, None, None)},
        policy={"dev": {"allow_downgrade": True}},
    ),
    Case(
        "repushed_tag_updates_the_digest",
        SETTLED,
        candidates([image(1, repushed=True)], [model(1)]),
        {"dev": ("promote", 1, None, None)},
    ),
    Case(
        "latest_tag_without_inspection_is_reported",
        SETTLED,
        candidates([image(1)], [model(1)], tags=(tag(1), tag(9))),
        {"dev": ("none", None, None, "latest tag 0.1.0-9-abc0009 was not inspected")},
    ),
    Case(
        "no_matching_tags_is_reported",
        SETTLED,
        candidates([], [model(1)], tags=("latest", "main")),
        {"dev": ("none", None, None, "no tag in the registry matches the tag policy")},
    ),
    Case(
        "unknown_deployed_image_signature_blocks_a_model_alone",
        SETTLED,
        candidates([], [model(1), model(2)], tags=(tag(1),)),
        {"dev": ("none", None, None, "deployed image's signature is unknown")},
    ),
    Case(
        "fresh_environment_gets_image_and_model",
        State({}),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"dev": ("promote", 2, 2, None), "staging": ("none", None, None, "dev pins nothing yet")},
    ),
    Case(
        "fresh_environment_without_any_model_gets_the_image",
        State({}),
        candidates([image(1)], []),
        {"dev": ("promote", 1, None, None)},
    ),
    Case(
        "environment_without_image_gets_the_newest_passing_model",
        state(env("dev", None, 1, NOW)),
        candidates([], [model(1), model(2), model(3, 0.1)], tags=()),
        {"dev": ("none", None, None, "model v3 fails gates")},
    ),
    Case(
        "environment_without_image_or_tags_gets_a_model",
        state(env("dev", None, 1, NOW)),
        candidates([], [model(1), model(2, sig=SIG2)]),
        {"dev": ("promote", None, 2, None)},
    ),
    Case(
        "unknown_signatures_never_pair_with_each_other",
        State({}),
        candidates([image(1, None)], [model(1, sig=None)]),
        {"dev": ("promote", 1, None, None)},
    ),
    Case(
        "unlabelled_deployed_image_gets_no_new_model",
        state(env("dev", 1, None)),
        candidates([image(1, None)], [model(1, sig=None)]),
        {"dev": ("none", None, None, "signature is unknown (no label")},
    ),
    Case(
        "other_model_names_are_ignored",
        SETTLED,
        candidates([image(1)], [model(1), model(7, name="other")]),
        {"dev": ("none", None, None, None)},
    ),
    Case(
        "freeze_window_holds_the_first_environment",
        SETTLED,
        candidates([image(1), image(2)], [model(1)]),
        {"dev": ("held", 2, None, "freeze window 'midweek' open until")},
        policy={
            "dev": {
                "freeze_windows": [{"name": "midweek", "schedule": "0 0 * * 3", "duration": "1d"}]
            }
        },
    ),
    Case(
        "closed_freeze_window_lets_it_through",
        SETTLED,
        candidates([image(1), image(2)], [model(1)]),
        {"dev": ("promote", 2, None, None)},
        policy={"dev": {"freeze_windows": [{"schedule": "0 0 * * 6", "duration": "1d"}]}},
    ),
    Case(
        "absolute_and_rise_gates",
        SETTLED,
        candidates([image(1)], [model(1, 0.95), model(2, 0.99)]),
        {"dev": ("none", None, None, "above max 0.98, rises more than 0.01")},
        policy={"dev": {"gates": {"metrics": {"accuracy": {"max": 0.98, "max_rise": 0.01}}}}},
    ),
]

FOLLOW_CASES = [
    Case(
        "up_to_date_with_previous",
        SETTLED,
        candidates([image(1)], [model(1)]),
        {"staging": ("none", None, None, "up to date with dev")},
    ),
    Case(
        "previous_pins_nothing",
        state(env("dev")),
        candidates([image(1)], [model(1)]),
        {"staging": ("none", None, None, "dev pins nothing yet")},
    ),
    Case(
        "soaked_pair_moves_together",
        state(env("dev", 2, 2, NOW - 2 * HOUR), env("staging", 1, 1, NOW - 48 * HOUR)),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"staging": ("promote", 2, 2, "dev runs it")},
    ),
    Case(
        "only_what_changed_moves",
        state(env("dev", 2, 1, NOW - 2 * HOUR), env("staging", 1, 1, NOW - 48 * HOUR)),
        candidates([image(1), image(2)], [model(1)]),
        {"staging": ("promote", 2, None, None)},
    ),
    Case(
        "unsoaked_pair_is_held",
        state(env("dev", 2, 2, NOW - 20 * timedelta(minutes=1)), env("staging", 1, 1, NOW)),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"staging": ("held", 2, 2, "soaking: dev confirmed healthy for 20m (needs 1h)")},
    ),
    Case(
        "unknown_deployment_holds",
        state(env("dev", 2, 2, None), env("staging", 1, 1, NOW)),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"staging": ("held", 2, 2, "whether dev runs these pins is unknown")},
    ),
    Case(
        # issue 14: a commit backdated three days on main is no evidence: only dev's status is
        "backdated_commit_without_confirmation_holds",
        state(
            replace(env("dev", 2, 2, NOW - 72 * HOUR), deployment=Deployment()),  # not released
            env("staging", 1, 1, NOW),
        ),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"staging": ("held", 2, 2, "release/dev does not contain these pins yet")},
    ),
    Case(
        "zero_soak_needs_a_confirmation_only",
        state(env("dev", 2, 2, NOW), env("staging", 1, 1, NOW)),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"staging": ("promote", 2, 2, None)},
        policy={"staging": {"soak": 0}},
    ),
    Case(
        "zero_soak_without_confirmation_holds",
        state(
            replace(env("dev", 2, 2, NOW), deployment=Deployment((), ("a" * 40,))),
            env("staging", 1, 1, NOW),
        ),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"staging": ("held", 2, 2, "dev has not confirmed running these pins")},
        policy={"staging": {"soak": 0}},
    ),
    Case(
        "previous_behind_is_not_followed_back",
        state(env("dev", 1, 1, NOW - 48 * HOUR), env("staging", 2, 2, NOW)),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"staging": ("none", None, None, "orders before the deployed 0.1.0-2-abc0002")},
    ),
    Case(
        "previous_model_behind_is_not_followed_back",
        state(env("dev", 1, 1, NOW - 48 * HOUR), env("staging", 1, 2, NOW)),
        candidates([image(1)], [model(1), model(2)]),
        {"staging": ("none", None, None, "model v1 in dev is older than the deployed v2")},
    ),
    Case(
        "previous_behind_is_followed_when_downgrades_are_allowed",
        state(env("dev", 1, 1, NOW - 48 * HOUR), env("staging", 2, 2, NOW)),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"staging": ("promote", 1, 1, None)},
        policy={"staging": {"allow_downgrade": True}},
    ),
    Case(
        "incompatible_pair_in_previous_is_refused",
        state(env("dev", 2, 2, NOW - 48 * HOUR), env("staging", 1, 1, NOW)),
        candidates([image(1), image(2, SIG2)], [model(1), model(2)]),
        {"staging": ("none", None, None, "incompatible pair")},
    ),
    Case(
        "new_image_must_serve_the_model_staying_behind",
        state(env("dev", 2, 1, NOW - 48 * HOUR), env("staging", 1, 1, NOW)),
        candidates([image(1), image(2, SIG2)], [model(1)]),
        {"staging": ("none", None, None, "image serves input:float32[?,128]")},
    ),
    Case(
        "stricter_gate_stops_the_whole_pair",
        state(env("dev", 2, 2, NOW - 48 * HOUR), env("staging", 1, 1, NOW)),
        candidates([image(1), image(2)], [model(1), model(2, 0.91)]),
        {"staging": ("none", None, None, "below min 0.93")},
        policy={"staging": {"gates": {"metrics": {"accuracy": {"min": 0.93}}}}},
    ),
    Case(
        "model_unknown_to_store_cannot_pass_gates",
        state(env("dev", None, 2, NOW - 48 * HOUR), env("staging", None, 1, NOW)),
        candidates([], [model(1)]),
        {"staging": ("none", None, None, "unknown to the model store")},
        policy={"staging": {"gates": {"metrics": {"accuracy": {"min": 0.5}}}}},
    ),
    Case(
        "model_unknown_to_store_moves_when_no_gate_needs_it",
        state(env("dev", None, 2, NOW - 48 * HOUR), env("staging", None, 1, NOW)),
        candidates([], [model(1)]),
        {"staging": ("promote", None, 2, None)},
    ),
    Case(
        "archived_model_is_not_promoted_further",
        state(env("dev", 1, 2, NOW - 48 * HOUR), env("staging", 1, 1, NOW)),
        candidates([image(1)], [model(1), model(2, archived=True)]),
        {"staging": ("none", None, None, "model v2 is archived")},
    ),
    Case(
        "tag_outside_own_tag_policy_is_refused",
        state(env("dev", 2, 1, NOW - 48 * HOUR), env("staging", 1, 1, NOW)),
        candidates([image(1), image(2)], [model(1)]),
        {"staging": ("none", None, None, "is not accepted by the tag policy")},
        policy={"staging": {"tag_policy": {"semver": {"range": ">=1.0.0"}}}},
    ),
    Case(
        "freeze_window_holds_prod",
        state(
            env("dev", 2, 2, NOW - 96 * HOUR),
            env("staging", 2, 2, NOW - 48 * HOUR),
            env("prod", 1, 1, NOW - 96 * HOUR),
        ),
        candidates([image(1), image(2)], [model(1), model(2)]),
        {"prod": ("held", 2, 2, "freeze window '0 0 * * 3 for 1 day, 0:00:00' open")},
        policy={"prod": {"freeze_windows": [{"schedule": "0 0 * * 3", "duration": "1d"}]}},
    ),
]


def _outcome(env_plan: EnvPlan) -> tuple[str, int | None, int | None]:
    promo = env_plan.promotion or env_plan.held
    kind = "promote" if env_plan.promotion else ("held" if env_plan.held else "none")
    if promo is None:
        return kind, None, None
    build = None
    if promo.image is not None:
        assert promo.image.after.tag is not None
        build = int(promo.image.after.tag.split("-")[1])
    version = promo.model.after.version if promo.model else None
    return kind, build, version


@pytest.mark.parametrize("case", FIRST_ENV_CASES + FOLLOW_CASES, ids=lambda c: c.id)
def test_plan_table(case: Case):
    result = plan(case.state, case.candidates, policy(**case.policy), case.now)
    for env_name, (kind, build, version, reason) in case.expect.items():
        env_plan = result.env(env_name)
        assert _outcome(env_plan) == (kind, build, version), env_plan.reasons
        if reason is not None:
            assert any(reason in r for r in env_plan.reasons), env_plan.reasons


def test_plan_refuses_naive_clock():
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(SETTLED, candidates([], []), policy(), NOW.replace(tzinfo=None))


def test_promotion_records_before_after_and_evidence():
    st = state(*(env(name, 1, 1, NOW - 48 * HOUR) for name in ("dev", "staging", "prod")))
    result = plan(
        st, candidates([image(1), image(2)], [model(1, 0.95), model(2, 0.96)]), policy(), NOW
    )
    promo = result.env("dev").promotion
    assert promo is not None
    assert promo.image is not None and promo.model is not None
    assert promo.image.before == ipin(1) and promo.image.after == ipin(2)
    assert (promo.image.revision_before, promo.image.revision_after) == ("rev1", "rev2")
    assert promo.model.before == mpin(1) and promo.model.after == mpin(2)
    assert promo.model.metrics_before == {"accuracy": 0.95}
    assert promo.model.metrics_after == {"accuracy": 0.96}
    assert promo.overlay == "deploy/overlays/dev/kustomization.yaml"
    names = [c.name for c in promo.checks]
    assert names == ["forward", "signature", "metric accuracy"]
    assert all(c.passed for c in promo.checks)
    assert "accuracy 0.96 vs 0.95 deployed (Δ +0.01)" in promo.checks[2].detail
    assert promo.summary == "dev: image 0.1.0-1-abc0001 → 0.1.0-2-abc0002, model digits v1 → v2"
    assert result.promotions == (promo,)
    assert not result.is_empty


def test_held_promotion_carries_failed_soak_check():
    st = state(env("dev", 2, 2, NOW - 10 * timedelta(minutes=1)), env("staging", 1, 1, NOW))
    result = plan(st, candidates([image(1), image(2)], [model(1), model(2)]), policy(), NOW)
    held = result.env("staging").held
    assert held is not None
    assert result.env("staging").promotion is None
    soak = [c for c in held.checks if c.name == "soak"]
    assert soak == [
        Check(
            "soak",
            False,
            "dev confirmed healthy for 10m (needs 1h): kustomization/modelops-dev/aks-1 success "
            "on aaaaaaaaaaaa at 2026-03-04T11:50:00Z; eligible at 2026-03-04T12:50:00Z",
        )
    ]
    assert "eligible at 2026-03-04T12:50:00Z" in " ".join(result.env("staging").reasons)


def test_summary_of_first_pin():
    result = plan(State({}), candidates([image(1)], [model(1)]), policy(), NOW)
    promo = result.env("dev").promotion
    assert promo is not None
    assert promo.summary == "dev: image (none) → 0.1.0-1-abc0001, model digits (none) → v1"


def test_plan_json_is_serialisable_and_complete():
    st = state(env("dev", 1, 1, NOW - 48 * HOUR))
    result = plan(st, candidates([image(1), image(2)], [model(1)]), policy(), NOW)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["now"] == "2026-03-04T12:00:00+00:00"
    dev = data["envs"][0]
    assert dev["env"] == "dev"
    assert dev["promotion"]["image"]["after"]["tag"] == tag(2)
    assert dev["promotion"]["image"]["after"]["digest"] == digest((2, False))
    assert dev["promotion"]["checks"][0] == {
        "name": "forward",
        "passed": True,
        "detail": "only forward moves",
    }
    assert [e["env"] for e in data["envs"]] == ["dev", "staging", "prod"]


def test_plan_env_lookup_of_unknown_environment_raises_key_error():
    result = Plan(NOW, ())
    with pytest.raises(KeyError):
        result.env("qa")


def test_plan_env_finds_each_environment_as_a_scan_would_and_the_json_is_unchanged():
    st = state(*(env(name, 1, 1, NOW - 48 * HOUR) for name in ("dev", "staging", "prod")))
    result = plan(st, candidates([image(1), image(2)], [model(1)]), policy(), NOW)
    before = result.to_dict()
    for env_plan in result.envs:
        assert result.env(env_plan.env) is env_plan
    assert result.to_dict() == before  # the lookup's index is no field of the plan
    twice = Plan(NOW, (*result.envs, replace(result.envs[0], reasons=("again",))))
    assert twice.env("dev") is result.envs[0]
    with pytest.raises(KeyError):
        twice.env("qa")


def test_apply_moves_pins_and_stamps_time():
    st = state(env("dev", 1, 1, NOW - 48 * HOUR), env("staging", 1, 1, NOW - 48 * HOUR))
    result = plan(st, candidates([image(1), image(2)], [model(1)]), policy(), NOW)
    after = apply(st, result)
    assert after.get("dev") == EnvState("dev", ipin(2), mpin(1), NOW)
    assert after.get("staging") == st.get("staging")
    # prod pinned nothing: it takes staging's pins (soaked 48h > 1d)
    assert after.get("prod") == EnvState("prod", ipin(1), mpin(1), NOW)


def test_summary_names_only_what_moves():
    st = state(env("dev", 1, 1, NOW - 48 * HOUR))
    image_only = plan(st, candidates([image(1), image(2)], [model(1)]), policy(), NOW)
    model_only = plan(st, candidates([image(1)], [model(1), model(2)]), policy(), NOW)
    assert image_only.promotions[0].summary == "dev: image 0.1.0-1-abc0001 → 0.1.0-2-abc0002"
    assert model_only.promotions[0].summary == "dev: model digits v1 → v2"


def test_soak_reports_clock_skew_as_negative_time():
    st = state(env("dev", 2, 2, NOW + 90 * timedelta(seconds=1)), env("staging", 1, 1, NOW))
    result = plan(st, candidates([image(1), image(2)], [model(1), model(2)]), policy(), NOW)
    assert (
        "soaking: dev confirmed healthy for -1m30s (needs 1h)" in result.env("staging").reasons[-1]
    )


def test_empty_world_plans_nothing_with_reasons():
    result = plan(State({}), candidates([], []), policy(), NOW)
    assert result.is_empty
    assert result.env("dev").reasons == ("no tag in the registry matches the tag policy",)


def test_tags_to_inspect_names_the_policy_pick_and_pinned_digests():
    st = state(env("dev", 3, 1), env("staging", 2, 1), EnvState("prod", ImagePin("modelops-app")))
    latest, digests = tags_to_inspect(st, [tag(1), tag(10), tag(9), "latest"], policy())
    assert latest == tag(10)
    assert digests == {ipin(3).digest, ipin(2).digest}


def test_image_pin_reference_renders_like_kustomize():
    assert ipin(1).reference == f"{REF}:{tag(1)}@{digest((1, False))}"
    assert ImagePin("modelops-app").reference == "modelops-app"
    assert ImagePin("app", tag="1.0").reference == "app:1.0"


def test_candidates_lookups():
    cands = candidates([image(1)], [model(1)])
    assert cands.image_by_tag(tag(1)) == image(1)
    assert cands.image_by_tag("nope") is None
    assert cands.image_by_digest(digest("x")) is None
    assert cands.model("digits", 1) == model(1)
    assert cands.model("digits", 2) is None
    assert cands.all_tags() == (tag(1),)
    assert image(1).revision == "rev1"
    assert image(1).input_signature == SIG


def test_metric_checks_without_relative_gate_ignore_the_deployed_version():
    checks = metric_checks({"accuracy": MetricGate(min=0.5)}, model(2), mpin(1), None)
    assert checks == [Check("metric accuracy", True, "accuracy 0.95")]


def test_metric_checks_with_nothing_deployed():
    checks = metric_checks({"accuracy": MetricGate(max_drop=0.1)}, model(2), None, None)
    assert checks == [
        Check("metric accuracy", True, "accuracy 0.95 (nothing deployed to compare with)")
    ]


NO_AMD64 = "index has no linux/amd64 manifest"


@pytest.mark.parametrize(
    ("tags", "skipped", "promoted", "reason"),
    [
        # the newest tag is unusable: the one before it is promoted, and the plan says why
        ((tag(1), tag(2), tag(3)), {tag(3): NO_AMD64}, tag(2), f"tag {tag(3)} skipped: {NO_AMD64}"),
        # every newer tag unusable: nothing moves, for a stated reason
        ((tag(1), tag(3)), {tag(3): NO_AMD64}, None, f"tag {tag(3)} skipped: {NO_AMD64}"),
        ((tag(3),), {tag(3): NO_AMD64}, None, "no tag in the registry matches the tag policy"),
    ],
)
def test_a_skipped_tag_falls_back_to_the_next_candidate_with_its_reason(
    tags, skipped, promoted, reason
):
    st = state(env("dev", 1, 1), env("staging", 1, 1), env("prod", 1, 1))
    found = Candidates(images=(image(1), image(2)), models=(model(1),), tags=tags, skipped=skipped)
    result = plan(st, found, policy(), NOW)
    dev = result.env("dev")
    moved = dev.promotion.image.after.tag if dev.promotion and dev.promotion.image else None
    assert moved == promoted
    assert reason in dev.reasons
    if dev.promotion is not None:
        assert reason in dev.promotion.reasons  # the PR body's "Why now"


def test_tags_to_inspect_passes_over_skipped_tags():
    st = state(env("dev", 3, 1))
    latest, _ = tags_to_inspect(st, [tag(1), tag(10), tag(9)], policy(), skipped={tag(10)})
    assert latest == tag(9)
