"""Deployment confirmation (issue 14): which statuses are a controller's, the walk, the soak.

The contexts are the ones the shipped gitops config makes the controllers post, taken from
tests/deploy/testdata/controller_statuses.json (their source is cited there per entry).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.confirm import (
    ConfirmMode,
    Deployment,
    DeployStatus,
    confirmation,
    controller,
    freeze_status,
    release_context,
    release_ref,
    soak_verdict,
)
from tests.bot.core.builders import HOUR, NOW, RELEASE_COMMIT, flux, policy

FIXTURES = Path(__file__).parents[2] / "deploy" / "testdata" / "controller_statuses.json"
CS = ConfirmMode.COMMIT_STATUS
MIN = timedelta(minutes=1)


def _posted() -> list[tuple[str, str, str]]:
    """(controller, environment, context) of every status request the fixtures record."""
    data = json.loads(FIXTURES.read_text())
    found = []
    for case in data["statuses"]:
        for request in case["requests"]:
            if request["method"] == "POST":
                body = request["body"]
                found.append((case["controller"], case["environment"], body["context"]))
    return found


def test_fixture_contexts_map_to_their_controller_and_environment():
    posted = _posted()
    assert {c for c, _, _ in posted} == {"flux", "argocd"}
    for name, env, context in posted:
        assert controller(context, env, CS) == name
        assert controller(context, "qa", CS) is None  # never mapped to another environment
        assert controller(context, env, ConfirmMode.RELEASE) is None


@pytest.mark.parametrize(
    "context",
    [
        "kustomization/modelops-dev/0c9c2e41",  # the default context (Provider UID prefix)
        "fluxcd/kustomization/modelops-dev/aks",  # Flux to Azure Repos: genre/name
        "continuous-delivery/modelops-dev",
    ],
)
def test_default_and_argo_contexts_are_recognised(context: str):
    assert controller(context, "dev", CS) is not None


@pytest.mark.parametrize(
    "context",
    ["ci/build", "promotion/freeze", "kustomization/modelops-dev", "deploy/dev", "release/dev"],
)
def test_other_contexts_say_nothing_about_deployment(context: str):
    assert controller(context, "dev", CS) is None


def test_release_ref_and_context_names():
    assert release_ref("staging") == "release/staging"
    assert controller(release_context("dev"), "dev", ConfirmMode.RELEASE) == "release"
    assert controller(release_context("dev"), "prod", ConfirmMode.RELEASE) is None


def _walk(*statuses: DeployStatus) -> Deployment:
    return Deployment(tuple(statuses), (RELEASE_COMMIT,))


def test_no_status_is_not_confirmed():
    found = confirmation("dev", _walk(), CS)
    assert not found.confirmed and found.reset_by is None and found.waiting == ()


def test_only_pending_is_not_confirmed():
    argo = DeployStatus(RELEASE_COMMIT, "continuous-delivery/modelops-dev", "pending", NOW)
    found = confirmation("dev", _walk(argo), CS)
    assert not found.confirmed
    assert found.waiting == ("continuous-delivery/modelops-dev",)


def test_first_success_counts_and_repeats_do_not_move_it():
    found = confirmation(
        "dev", _walk(flux("dev", NOW - 2 * HOUR, id=1), flux("dev", NOW - HOUR, id=2)), CS
    )
    assert found.since == NOW - 2 * HOUR
    assert found.evidence is not None and found.evidence.id == 1


def test_failure_after_success_resets_and_next_success_restarts():
    statuses = [
        flux("dev", NOW - 3 * HOUR, id=1),
        flux("dev", NOW - 2 * HOUR, "failure", id=2),
    ]
    reset = confirmation("dev", _walk(*statuses), CS)
    assert not reset.confirmed
    assert reset.reset_by == statuses[1]
    again = confirmation("dev", _walk(*statuses, flux("dev", NOW - HOUR, id=3)), CS)
    assert again.since == NOW - HOUR
    assert again.reset_by == statuses[1]


def test_ties_in_the_same_second_are_ordered_by_the_forge_id():
    # newest first, as GitHub lists them: success (id 2) came after the failure (id 1)
    found = confirmation(
        "dev", _walk(flux("dev", NOW, id=2), flux("dev", NOW, "failure", id=1)), CS
    )
    assert found.since == NOW


def test_every_cluster_must_confirm_and_the_latest_start_counts():
    one = flux("dev", NOW - 3 * HOUR, id=1, cluster="aks-1")
    two = flux("dev", NOW - HOUR, id=2, cluster="aks-2")
    assert confirmation("dev", _walk(one, two), CS).since == NOW - HOUR
    broken = flux("dev", NOW - MIN, "failure", id=3, cluster="aks-2")
    found = confirmation("dev", _walk(one, two, broken), CS)
    assert not found.confirmed and found.waiting == ("kustomization/modelops-dev/aks-2",)


def test_argo_error_resets_like_a_failure():
    ok = DeployStatus(RELEASE_COMMIT, "continuous-delivery/modelops-dev", "success", NOW - HOUR, 1)
    err = DeployStatus(RELEASE_COMMIT, "continuous-delivery/modelops-dev", "error", NOW, 2)
    assert not confirmation("dev", _walk(ok, err), CS).confirmed


def test_statuses_of_other_environments_and_contexts_are_ignored():
    found = confirmation(
        "dev",
        _walk(
            flux("staging", NOW - 5 * HOUR),
            DeployStatus(RELEASE_COMMIT, "ci/test", "failure", NOW),
        ),
        CS,
    )
    assert not found.confirmed and found.reset_by is None


def test_soak_held_then_passed_with_the_exact_eligible_time():
    deployment = _walk(flux("dev", NOW - 20 * MIN))
    held = soak_verdict("dev", deployment, soak=HOUR, mode=CS, now=NOW)
    assert not held.soaked
    assert held.eligible_at == NOW + 40 * MIN
    assert held.detail == (
        "dev confirmed healthy for 20m (needs 1h): kustomization/modelops-dev/aks-1 success on "
        "aaaaaaaaaaaa at 2026-03-04T11:40:00Z; eligible at 2026-03-04T12:40:00Z"
    )
    assert held.data is not None and held.data["commit"] == RELEASE_COMMIT
    passed = soak_verdict("dev", deployment, soak=HOUR, mode=CS, now=NOW + HOUR)
    assert passed.soaked and "eligible" not in passed.detail


def test_soak_with_nothing_read_or_unknown_holds():
    assert not soak_verdict("dev", None, soak=HOUR, mode=CS, now=NOW).soaked
    unknown = soak_verdict("dev", Deployment(unknown="forge down"), soak=HOUR, mode=CS, now=NOW)
    assert unknown.detail == "whether dev runs these pins is unknown (forge down)"


@pytest.mark.parametrize(
    ("deployment", "mode", "detail"),
    [
        (_walk(), CS, "dev has not confirmed running these pins (no deployment status)"),
        (_walk(), ConfirmMode.RELEASE, "release/dev has no promotion/release/dev status"),
        (Deployment(), CS, "release/dev does not contain these pins yet (not released)"),
        (
            _walk(flux("dev", NOW - HOUR, "failure")),
            CS,
            "dev reported kustomization/modelops-dev/aks-1 failure on aaaaaaaaaaaa at "
            "2026-03-04T11:00:00Z and no success since",
        ),
        (
            _walk(DeployStatus(RELEASE_COMMIT, "continuous-delivery/modelops-dev", "pending", NOW)),
            CS,
            "dev has no success status yet (continuous-delivery/modelops-dev)",
        ),
    ],
)
def test_unconfirmed_soak_says_why(deployment: Deployment, mode: ConfirmMode, detail: str):
    verdict = soak_verdict("dev", deployment, soak=timedelta(0), mode=mode, now=NOW)
    assert not verdict.soaked
    assert verdict.detail == detail


def test_release_mode_counts_from_the_release_and_says_it_is_weaker():
    released = DeployStatus(RELEASE_COMMIT, release_context("dev"), "success", NOW - 2 * HOUR, 7)
    # a controller's failure says nothing in release mode, and the ref's status nothing in the other
    failed = flux("dev", NOW - HOUR, "failure", id=8)
    deployment = _walk(released, failed)
    verdict = soak_verdict("dev", deployment, soak=HOUR, mode=ConfirmMode.RELEASE, now=NOW)
    assert verdict.soaked
    assert "weaker" in verdict.detail and "release/dev" in verdict.detail
    assert not soak_verdict("dev", deployment, soak=HOUR, mode=CS, now=NOW).soaked


def test_each_environment_names_its_own_release_ref():
    assert [env.release_ref for env in policy().environments] == [
        "release/dev",
        "release/staging",
        "release/prod",
    ]


def test_a_status_from_the_future_shows_negative_time_and_holds():
    verdict = soak_verdict(
        "dev", _walk(flux("dev", NOW + 90 * timedelta(seconds=1))), soak=HOUR, mode=CS, now=NOW
    )
    assert not verdict.soaked
    assert verdict.detail.startswith("dev confirmed healthy for -1m30s (needs 1h)")


def test_freeze_status_fails_while_frozen_and_succeeds_after():
    assert freeze_status(("weekend", NOW)) == (
        "failure",
        "frozen: window 'weekend' open until 2026-03-04T12:00:00Z",
    )
    assert freeze_status(None) == ("success", "no freeze window open")


def test_only_the_allowed_creators_statuses_count():
    """Anyone with write access can post any context: with an allowlist, only the
    controllers' identity confirms (docs/deployment-confirmation.md, "Whom to believe")."""
    app = "modelops-deploy-status[bot]"
    forged = DeployStatus(
        RELEASE_COMMIT, "kustomization/modelops-dev/aks", "success", NOW - 3 * HOUR, 1, "", "eve"
    )
    real = DeployStatus(
        RELEASE_COMMIT, "kustomization/modelops-dev/aks", "success", NOW - 2 * HOUR, 2, "", app
    )
    only_forged = Deployment((forged,), (RELEASE_COMMIT,), creators=frozenset({app}))
    found = confirmation("dev", only_forged, CS)
    assert not found.confirmed and found.ignored == (forged,)
    verdict = soak_verdict("dev", only_forged, soak=HOUR, mode=CS, now=NOW)
    assert verdict.detail == (
        "dev has not confirmed running these pins (no deployment status); ignored 1 status(es) "
        "from eve (not a controller)"
    )
    both = Deployment((forged, real), (RELEASE_COMMIT,), creators=frozenset({app}))
    assert confirmation("dev", both, CS).since == NOW - 2 * HOUR  # not from eve's earlier one
    anyone = Deployment((forged, real), (RELEASE_COMMIT,))
    assert confirmation("dev", anyone, CS).since == NOW - 3 * HOUR


def test_the_release_status_counts_only_from_the_bot_itself_whatever_the_allowlist():
    """`confirm: release` with `DEPLOY_STATUS_CREATORS` set (the controllers' App, not the
    bot): the bot's own `promotion/release/dev` still counts, a person's never does; with the
    bot's identity unknown, the allowlist decides as for the controllers' statuses."""
    bot, app, rel = "modelops-bot[bot]", "modelops-deploy-status[bot]", ConfirmMode.RELEASE
    mine = DeployStatus(RELEASE_COMMIT, release_context("dev"), "success", NOW - 2 * HOUR, 2,
                        "", "Modelops-Bot[bot]")  # fmt: skip
    eve = DeployStatus(RELEASE_COMMIT, release_context("dev"), "success", NOW - 3 * HOUR, 1,
                       "", "eve")  # fmt: skip
    listed = frozenset({app, "eve"})  # even a login the allowlist names is not the bot
    known = Deployment((eve, mine), (RELEASE_COMMIT,), creators=listed, own=bot)
    found = confirmation("dev", known, rel)
    assert (found.since, found.ignored) == (NOW - 2 * HOUR, (eve,))  # logins: any case
    faked = Deployment((eve,), (RELEASE_COMMIT,), own=bot)  # no allowlist: still only the bot
    verdict = soak_verdict("dev", faked, soak=HOUR, mode=rel, now=NOW)
    assert not verdict.soaked and verdict.detail.endswith("from eve (not the bot)")

    unknown = Deployment((eve, mine), (RELEASE_COMMIT,), creators=frozenset({app}))
    assert not confirmation("dev", unknown, rel).confirmed  # stuck, as documented: safe
    assert confirmation("dev", Deployment((eve, mine), (RELEASE_COMMIT,)), rel).confirmed


def test_soak_elapses_on_the_forge_clock_the_deployment_was_read_at():
    """A runner clock three hours ahead of the forge: elapsed is the forge's `Date` at the
    read minus the forge's status time, and the detail names the skew."""
    read = _walk(flux("dev", NOW - 30 * MIN))
    on_forge = Deployment(read.statuses, read.commits, read_at=NOW)
    ahead = soak_verdict("dev", on_forge, soak=HOUR, mode=CS, now=NOW + 3 * HOUR)
    assert not ahead.soaked
    assert "for 30m (needs 1h)" in ahead.detail and "the bot's is 3h off" in ahead.detail
    behind = soak_verdict("dev", on_forge, soak=HOUR, mode=CS, now=NOW - 3 * HOUR)
    assert not behind.soaked and "the bot's is -3h off" in behind.detail
