"""`promotion-bot plan|run|status|release` through `main()`: output, exit codes, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.lock import run_lock
from bot.release_status import ATTEMPTS
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld


@pytest.fixture
def world(
    tmp_path: Path,
    github: LocalGitHub,
    registry: Registry,
    azurite: Azurite,
    monkeypatch: pytest.MonkeyPatch,
) -> GitOpsWorld:
    gw = GitOpsWorld(tmp_path, github, registry, azurite)
    gw.seed_with_dev_due()
    for key, value in gw.environ().items():
        monkeypatch.setenv(key, value)
    return gw


def test_plan_json_lists_every_environment_with_reasons(world: GitOpsWorld, capsys):
    assert main(["plan", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    envs = {e["env"]: e for e in data["envs"]}
    assert list(envs) == ["dev", "staging", "prod"]
    assert envs["dev"]["promotion"]["model"]["after"]["version"] == 2
    assert envs["staging"]["promotion"] is None
    assert envs["staging"]["reasons"]


def test_plan_text_says_promote_and_nothing(world: GitOpsWorld, capsys):
    assert main(["plan"]) == 0
    out = capsys.readouterr().out
    assert "dev: PROMOTE image 0.1.0-1-" in out
    assert "staging: nothing to do" in out


def test_run_dry_run_prints_diff_then_run_opens_pr_and_never_prints_the_token(
    world: GitOpsWorld, capsys
):
    assert main(["run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dev: would push+create" in out
    assert "+      - MODEL_VERSION=2" in out
    assert "dry run: nothing written" in out
    assert main(["run"]) == 0
    out = capsys.readouterr()
    assert "dev: push+create (PR #" in out.out
    assert world.github.token not in out.out + out.err
    assert main(["run"]) == 0
    assert "nothing to write" in capsys.readouterr().out


def test_status_shows_main_release_and_pending_pr(world: GitOpsWorld, capsys):
    assert main(["run"]) == 0
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    rows = {r["env"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["dev"]["pending_pr"].startswith("#")
    assert rows["dev"]["released"] == "(no release yet)"
    assert "model digits v1" in rows["dev"]["on_main"]
    assert rows["staging"]["pending_pr"] == "none"


def test_release_then_release_again_is_a_noop(world: GitOpsWorld, capsys):
    assert main(["release"]) == 0
    out = capsys.readouterr().out
    assert "tagged release-" in out
    assert "dev: promotion/release/dev on " in out and " posted\n" in out
    assert main(["release"]) == 0
    out = capsys.readouterr().out
    assert "already at main" in out and "promotion/release/" not in out  # there: not repeated


def test_a_release_status_the_forge_keeps_refusing_is_a_warning_not_a_failure(
    world: GitOpsWorld, capsys
):
    world.github.inject("status", status=503, method="POST", path="/statuses/", times=ATTEMPTS)
    assert main(["release"]) == 0  # the ref moved; the status is the next run's to post
    err = capsys.readouterr().err
    assert "warning: dev: could not post promotion/release/dev on " in err
    assert "the next release run posts it" in err


def test_run_while_another_holds_the_lock_exits_cleanly(world: GitOpsWorld, capsys):
    with run_lock(world.lock_client()):
        assert main(["run"]) == 0
    assert "another promotion-bot run holds the lock" in capsys.readouterr().out


def test_missing_remote_setting_is_a_configuration_error(
    world: GitOpsWorld, capsys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("GITOPS_REMOTE")
    assert main(["plan"]) == 2
    assert "GITOPS_REMOTE is not set" in capsys.readouterr().err


def test_credentials_in_the_remote_url_are_refused(world: GitOpsWorld, capsys):
    assert main(["plan", "--remote", "https://user:secret@github.example/x.git"]) == 2
    err = capsys.readouterr().err
    assert "must not embed credentials" in err
    assert "secret" not in err


def test_status_shows_what_each_cluster_confirmed_running(world: GitOpsWorld, capsys):
    assert main(["release"]) == 0  # dev ships; staging and prod wait for dev's confirmation
    assert "staging: wait: release/staging not moved: " in capsys.readouterr().out
    sha = world.flux_reports("dev")
    assert main(["status", "--json"]) == 0
    rows = {r["env"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["dev"]["confirmed"].startswith("healthy since ")
    assert (
        f"(flux: kustomization/modelops-dev/aks-modelops on {sha[:12]})" in rows["dev"]["confirmed"]
    )
    assert rows["staging"]["released"] == "(no release yet)"
    assert rows["staging"]["confirmed"] == "nothing released"
    world.flux_reports("dev", "failure")
    assert main(["status"]) == 0
    assert "  confirmed:  unhealthy: kustomization/modelops-dev/aks-modelops failure" in (
        capsys.readouterr().out
    )


def test_a_status_from_someone_not_allowed_confirms_nothing(
    world: GitOpsWorld, capsys, monkeypatch: pytest.MonkeyPatch
):
    assert main(["release"]) == 0
    world.flux_reports("dev")  # posted with the test token's login, `localworld-bot`
    monkeypatch.setenv("DEPLOY_STATUS_CREATORS", "modelops-deploy-status[bot]")
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    rows = {r["env"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["dev"]["confirmed"] == "not confirmed: no deployment status on the release"
    monkeypatch.setenv("DEPLOY_STATUS_CREATORS", "modelops-deploy-status[bot],localworld-bot")
    assert main(["status", "--json"]) == 0
    rows = {r["env"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["dev"]["confirmed"].startswith("healthy since ")
