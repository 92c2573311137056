"""Whether a release ref may move (issue 14.2-3): freeze, hold, the soak of the pins, the soak
of the changes outside them, and a first release adopted from the environment's own cluster."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.core.confirm import ConfirmMode, Deployment, DeployStatus
from bot.core.outside import pin_only, references, without_pins
from bot.core.release_gate import (
    Outside,
    ReleaseWait,
    Wait,
    own_confirmation,
    release_blocker,
    release_wait,
)
from tests.bot.core.builders import HOUR, NOW, RELEASE_COMMIT, flux

CS = ConfirmMode.COMMIT_STATUS
MIN = timedelta(minutes=1)
CHANGE = "c" * 40
STAGING_TIP = "e" * 40


def _walk(*statuses: DeployStatus) -> Deployment:
    return Deployment(tuple(statuses), (RELEASE_COMMIT,))


def _args(**kw: object) -> dict[str, Any]:
    """staging after dev, pins moving, dev confirmed 2 h ago (soak 1 h), but for `kw`."""
    args: dict[str, Any] = {
        "env": "staging",
        "previous": "dev",
        "frozen": None,
        "hold": None,
        "moves": True,
        "soak": HOUR,
        "mode": CS,
        "deployment": _walk(flux("dev", NOW - 2 * HOUR)),
        "now": NOW,
    }
    return {**args, **kw}


def _blocker(**kw: object) -> str | None:
    return release_blocker(**_args(**kw))


def test_release_moves_what_soaked_and_the_first_environment_freely():
    assert _blocker() is None
    assert _blocker(previous=None, deployment=None) is None
    assert _blocker(moves=False, deployment=Deployment()) is None  # nothing new: nothing to soak
    assert _blocker(moves=False, outside=Outside((), STAGING_TIP)) is None


def test_release_waits_in_a_freeze_window_at_release_time():
    reason = _blocker(frozen=("weekend", NOW + HOUR))
    assert reason == "staging is frozen: window 'weekend' open until 2026-03-04T13:00:00+00:00"


def test_release_waits_while_held():
    assert _blocker(hold="everything held by ann: incident") == (
        "staging is held: everything held by ann: incident"
    )


def test_release_waits_for_the_previous_environment_to_confirm():
    # dev merged but not yet released: the nightly must not ship staging with it
    reason = _blocker(deployment=Deployment())
    assert reason == ("soak in dev: release/dev does not contain these pins yet (not released)")
    assert _blocker(deployment=_walk(flux("dev", NOW - 20 * MIN))) is not None


# --------------------------------------------------------------------------- outside the pins


def _outside(*statuses: DeployStatus, commits: tuple[str, ...] = (RELEASE_COMMIT,)) -> Outside:
    return Outside((CHANGE,), STAGING_TIP, Deployment(tuple(statuses), commits))


def test_a_change_outside_the_pins_waits_for_a_confirmed_release_containing_it():
    """Base or patches changed, pins not: dev must have run a commit containing the change,
    healthy for the soak, before staging ships it."""
    not_released = _blocker(moves=False, outside=_outside(commits=()))
    assert not_released == (
        "soak in dev of 1 change(s) outside the pins since eeeeeeeeeeee, newest cccccccccccc: "
        "release/dev does not contain them yet (not released)"
    )
    unconfirmed = _blocker(moves=False, outside=_outside())
    assert unconfirmed is not None
    assert unconfirmed.endswith("dev has not confirmed running them (no deployment status)")
    soaking = _blocker(moves=False, outside=_outside(flux("dev", NOW - 20 * MIN)))
    assert soaking is not None and soaking.endswith("eligible at 2026-03-04T12:40:00Z")
    assert _blocker(moves=False, outside=_outside(flux("dev", NOW - HOUR))) is None


def test_a_failure_since_the_success_resets_the_soak_of_a_change_outside_the_pins():
    ran = _outside(flux("dev", NOW - 3 * HOUR, id=1), flux("dev", NOW - 2 * HOUR, "failure", id=2))
    reason = _blocker(moves=False, outside=ran)
    assert (
        reason is not None and "failure on aaaaaaaaaaaa" in reason and "no success since" in reason
    )


def test_pins_and_changes_outside_them_must_both_have_soaked():
    soaked = _walk(flux("dev", NOW - 2 * HOUR))
    fresh = _outside(flux("dev", NOW - 10 * MIN))
    both = _blocker(deployment=soaked, outside=fresh)
    assert both is not None and both.startswith("soak in dev of 1 change(s) outside the pins")
    pins_only = _blocker(
        deployment=_walk(flux("dev", NOW - 10 * MIN)), outside=_outside(flux("dev", NOW - 2 * HOUR))
    )
    assert pins_only is not None and pins_only.startswith("soak in dev: dev confirmed healthy")
    neither = _blocker(deployment=Deployment(), outside=_outside(commits=()))
    assert neither is not None and neither.count("soak in dev") == 2


def test_a_missing_status_never_lets_a_change_outside_the_pins_through():
    unknown = _blocker(moves=False, outside=Outside((CHANGE,), STAGING_TIP, None))
    assert unknown is not None and "unknown" in unknown
    forge_down = Outside((CHANGE,), STAGING_TIP, Deployment(unknown="forge down"))
    assert "whether dev runs them is unknown (forge down)" in str(_blocker(outside=forge_down))


def test_release_mode_counts_a_change_outside_the_pins_from_the_ref_moving_to_it():
    moved = DeployStatus(RELEASE_COMMIT, "promotion/release/dev", "success", NOW - 2 * HOUR, 3)
    mode = ConfirmMode.RELEASE
    assert _blocker(moves=False, mode=mode, outside=_outside(moved)) is None
    assert _blocker(moves=False, mode=mode, outside=_outside(flux("dev", NOW - 2 * HOUR)))


# --------------------------------------------------------------------------- first release


def test_a_first_release_needs_everything_it_renders_soaked_in_the_previous_environment():
    first = Outside((), None, Deployment())
    reason = _blocker(outside=first)
    assert reason is not None
    assert "soak in dev of everything it renders (a first release): release/dev does not" in reason
    soaked = Outside((), None, _walk(flux("dev", NOW - 2 * HOUR)))
    assert _blocker(outside=soaked) is None


def test_a_first_release_adopts_pins_its_own_cluster_confirmed_and_nothing_else():
    """The environment's own controller said, on the legacy release commit with exactly these
    pins, that it runs them: the pins need no soak elsewhere; the changes since still do."""
    own = _walk(flux("staging", NOW - 30 * 24 * HOUR))
    never_ran = Deployment()  # dev never ran staging's pins under release/dev
    assert _blocker(deployment=never_ran, own=own, outside=Outside((), RELEASE_COMMIT)) is None
    note = own_confirmation("staging", own)
    assert note == (
        "first release/staging: staging's own cluster already runs these pins "
        "(kustomization/modelops-staging/aks-1 success on aaaaaaaaaaaa at 2026-02-02T12:00:00Z)"
    )
    # the changes since the legacy commit still soak in dev
    since = Outside((CHANGE,), RELEASE_COMMIT, Deployment())
    assert "does not contain them yet" in str(
        _blocker(deployment=never_ran, own=own, outside=since)
    )


def test_a_first_release_adopts_nothing_unconfirmed():
    ran_then_failed = _walk(
        flux("staging", NOW - 3 * HOUR, id=1), flux("staging", NOW - HOUR, "failure", id=2)
    )
    other_env = _walk(flux("dev", NOW - 3 * HOUR))
    forged = Deployment(
        (
            DeployStatus(
                RELEASE_COMMIT, "kustomization/modelops-staging/aks", "success", NOW, 1, "", "eve"
            ),
        ),
        (RELEASE_COMMIT,),
        creators=frozenset({"deploy[bot]"}),
    )
    for own in (None, Deployment(), ran_then_failed, other_env, forged):
        assert own_confirmation("staging", own) is None
        reason = _blocker(deployment=Deployment(), own=own)
        assert reason == "soak in dev: release/dev does not contain these pins yet (not released)"


# --------------------------------------------------------------------------- the overlay


OVERLAY = {
    "resources": ["../../base", "namespace.yaml"],
    "images": [
        {"name": "modelops-app", "newName": "acr/app", "newTag": "1", "digest": "sha256:1"},
        {"name": "sidecar", "newTag": "3"},
    ],
    "configMapGenerator": [
        {"name": "model-pin", "literals": ["MODEL_NAME=digits", "MODEL_VERSION=1", "X=1"]},
        {"name": "other", "literals": ["MODEL_VERSION=7"]},
    ],
    "patches": [{"path": "sizing.yaml"}],
}


def _with(**changes: object) -> dict[str, object]:
    return {**OVERLAY, **changes}


def test_a_change_of_only_the_pins_is_not_a_change_outside_them():
    promoted = _with(
        images=[
            {"name": "modelops-app", "newName": "acr/app", "newTag": "2", "digest": "sha256:2"},
            {"name": "sidecar", "newTag": "3"},
        ],
        configMapGenerator=[
            {"name": "model-pin", "literals": ["MODEL_NAME=digits", "MODEL_VERSION=2", "X=1"]},
            {"name": "other", "literals": ["MODEL_VERSION=7"]},
        ],
    )
    assert pin_only(OVERLAY, promoted, "modelops-app", "model-pin")
    assert without_pins(OVERLAY, "modelops-app", "model-pin") != OVERLAY


def test_everything_else_in_the_overlay_is_a_change_outside_the_pins():
    others = [
        _with(patches=[{"path": "sizing.yaml"}, {"path": "more.yaml"}]),
        _with(images=[OVERLAY["images"][0], {"name": "sidecar", "newTag": "4"}]),  # type: ignore[index]
        _with(
            configMapGenerator=[
                {"name": "model-pin", "literals": ["MODEL_NAME=digits", "MODEL_VERSION=1", "X=2"]},
                {"name": "other", "literals": ["MODEL_VERSION=7"]},
            ]
        ),
        _with(
            configMapGenerator=[
                {"name": "model-pin", "literals": ["MODEL_NAME=digits", "MODEL_VERSION=1", "X=1"]},
                {"name": "other", "literals": ["MODEL_VERSION=8"]},
            ]
        ),
        _with(resources=["../../base-v2", "namespace.yaml"]),
        None,  # the overlay went away
    ]
    for changed in others:
        assert not pin_only(OVERLAY, changed, "modelops-app", "model-pin"), changed


def test_a_kustomization_of_unexpected_shapes_keeps_them_as_they_are():
    # not a mapping, `images`/`configMapGenerator` not lists, a pin without literals: nothing
    # there is a pin to take out, so all of it counts as a change outside the pins
    assert without_pins(["not", "a", "mapping"], "modelops-app", "model-pin") == [
        "not",
        "a",
        "mapping",
    ]
    odd = {"images": "modelops-app", "configMapGenerator": {"name": "model-pin"}}
    assert without_pins(odd, "modelops-app", "model-pin") == odd
    files = {"configMapGenerator": [{"name": "model-pin", "files": ["pin.env"]}]}
    assert without_pins(files, "modelops-app", "model-pin") == files
    assert not pin_only(files, {"configMapGenerator": [{"name": "model-pin"}]}, "a", "model-pin")


def test_references_name_every_repository_path_the_kustomization_may_pull_in():
    found = references(OVERLAY, "deploy/overlays/staging")
    assert "deploy/base" in found
    assert "deploy/overlays/staging/namespace.yaml" in found
    assert "deploy/overlays/staging/sizing.yaml" in found
    remote = {"resources": ["https://github.com/x/y//base?ref=v1", "/abs", "../../../../../up"]}
    assert references(remote, "deploy/overlays/staging") == []


def test_references_read_a_generator_files_key_equals_path_source():
    """kustomize's file sources are `[{key}=]{path}`: the path after the key counts too."""
    doc = {
        "configMapGenerator": [{"name": "app", "files": ["app.conf=../../shared/app.conf"]}],
        "secretGenerator": [{"name": "tls", "files": ["tls.crt=certs/tls.crt", "ca.crt"]}],
    }
    found = references(doc, "deploy/overlays/staging")
    assert "deploy/shared/app.conf" in found
    assert "deploy/overlays/staging/certs/tls.crt" in found
    assert "deploy/overlays/staging/ca.crt" in found


# --------------------------------------------------------------------------- the wait, as data


def _wait(**kw: object) -> ReleaseWait | None:
    return release_wait(**_args(**kw))


def test_the_wait_names_what_it_waits_for_and_until_when():
    """`status` shows the nightly's own answer: each kind of wait and its eligible time."""
    assert _wait() is None
    frozen = _wait(frozen=("weekend", NOW + HOUR))
    assert frozen == ReleaseWait(
        str(_blocker(frozen=("weekend", NOW + HOUR))), (Wait.FREEZE,), NOW + HOUR, earliest=True
    )
    held = _wait(hold="everything held by ann: x", hold_until=NOW + 2 * HOUR)
    assert held is not None and (held.waits, held.eligible_at) == ((Wait.HOLD,), NOW + 2 * HOUR)
    unending = _wait(hold="everything held by ann: x")
    assert unending is not None and unending.eligible_at is None
    soaking = _wait(deployment=_walk(flux("dev", NOW - 20 * MIN)))
    assert soaking is not None and (soaking.waits, soaking.eligible_at) == (
        (Wait.SOAK,),
        NOW + 40 * MIN,
    )
    assert not soaking.earliest
    # two soaks: eligible once both are over (the later one)
    both = _wait(
        deployment=_walk(flux("dev", NOW - 20 * MIN)),
        outside=_outside(flux("dev", NOW - 10 * MIN)),
    )
    assert both is not None and (both.waits, both.eligible_at) == (
        (Wait.SOAK, Wait.OUTSIDE),
        NOW + 50 * MIN,
    )
    # a first release nothing confirmed yet: no time to give
    first = _wait(deployment=Deployment(), outside=Outside((), None, Deployment()))
    assert first is not None and (first.waits, first.eligible_at) == (
        (Wait.SOAK, Wait.FIRST_RELEASE),
        None,
    )
    assert first.reason == _blocker(
        deployment=Deployment(), outside=Outside((), None, Deployment())
    )
