"""The bot as a GitHub App against the local GitHub: real RSA keys, real JWTs, installation
tokens that expire on the server's clock, and git's credential helper run by real git."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from github import Auth

from bot.adapters import github_auth
from bot.adapters.forges import make_forge
from bot.adapters.github import GitHubForge
from bot.adapters.github_auth import (
    REFRESH_BEFORE,
    GitHubAppAuthError,
    RefreshingInstallationAuth,
    forge_auth,
    git_credential_env,
)
from bot.cli import ERROR_CODES, main
from bot.core.policy import Reviewer
from bot.forge import ForgeError
from bot.settings import Settings, SettingsError
from cliexit import EXIT_USAGE, exit_code_for
from localworld.github import LocalGitHub
from localworld.github.state import stable_id
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld
from tests.conftest import git, seed_remote
from tests.localworld.github.conftest import AppKey, new_app_key


@dataclass
class App:
    app_id: int
    installation_id: int
    key: AppKey
    repo: str


@pytest.fixture(scope="module")
def key() -> AppKey:
    return new_app_key()


@pytest.fixture
def app(
    github: LocalGitHub, key: AppKey, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[App]:
    """A GitOps repository with a `promote/dev` branch and the bot's app installed on it."""
    name = f"apps/gitops-{uuid.uuid4().hex[:8]}"
    remote = github.create_repo(name)
    work = tmp_path / "seed"
    seed_remote(work, remote, {"overlay.yaml": "version: 1\n"})
    git(work, "checkout", "-q", "-b", "promote/dev")
    (work / "overlay.yaml").write_text("version: 2\n")
    git(work, "commit", "-q", "-am", "promote dev to 2")
    git(work, "push", "-q", "origin", "promote/dev")
    app_id = stable_id("bot-app", request.node.nodeid)
    installation = github.add_app(app_id, key.public_pem, [name])
    yield App(app_id, installation, key, name)
    github.set_clock_offset(0)


def _settings(github: LocalGitHub, repo: str, remote: str = "", **env: str) -> Settings:
    return Settings.from_env(
        {
            "GITOPS_REMOTE": remote or "/srv/gitops.git",
            "GITHUB_REPOSITORY": repo,
            "GITHUB_API_URL": github.url,
            **env,
        }
    )


def _app_env(app: App, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_APP_ID": str(app.app_id),
        "GITHUB_APP_PRIVATE_KEY": app.key.private_pem,
        **extra,
    }


def _forge(github: LocalGitHub, app: App, auth: Auth.Auth) -> GitHubForge:
    return GitHubForge(github.url, auth, app.repo, backoff_factor=0.01)


def _minted(github: LocalGitHub, since: int) -> list[dict[str, object]]:
    return [
        r
        for r in github.requests(since)
        if r["operation"] == "apps/create-installation-access-token" and r["status"] == 201
    ]


def test_a_token_stays_the_default_and_is_required_without_an_app(github: LocalGitHub):
    with_token = forge_auth(_settings(github, "o/r", GITHUB_TOKEN="ghp_x"))
    assert isinstance(with_token, Auth.Token)
    with pytest.raises(SettingsError, match="GITHUB_TOKEN is not set"):
        forge_auth(_settings(github, "o/r"))


def test_the_bot_finds_its_installation_and_opens_a_pr_as_the_app(github: LocalGitHub, app: App):
    since = github.last_seq()
    settings = _settings(github, app.repo, **_app_env(app))
    forge = _forge(github, app, forge_auth(settings))
    pr = forge.create_pr(title="Promote dev", body="b", head="promote/dev", base="main")
    assert forge.find_open_pr("promote/dev", "main") == pr
    calls = github.requests(since)
    ops = [r["operation"] for r in calls]
    assert ops[:2] == ["apps/get-repo-installation", "apps/create-installation-access-token"]
    created = next(r for r in calls if r["operation"] == "pulls/create")
    assert created["login"] == "promotion-bot[bot]"  # the app's identity, not a user's


def test_the_apps_permissions_cover_what_automerge_and_repairs_read_and_write(
    github: LocalGitHub, app: App
):
    """Checks (statuses and check runs), reviews, review requests and labels, as the app."""
    forge = _forge(github, app, forge_auth(_settings(github, app.repo, **_app_env(app))))
    pr = forge.create_pr(title="Promote dev", body="b", head="promote/dev", base="main")
    assert forge.head_checks(pr.head_sha) == {}
    assert not forge.reviewed(pr.number)
    forge.add_labels(pr.number, ["promotion"])
    forge.request_reviews(pr.number, [Reviewer.parse("reviewer-1")])
    assert forge.get_pr(pr.number).labels == ("promotion",)


def test_a_given_installation_id_is_used_without_looking_it_up(github: LocalGitHub, app: App):
    since = github.last_seq()
    env = _app_env(app, GITHUB_APP_INSTALLATION_ID=str(app.installation_id))
    forge = _forge(github, app, forge_auth(_settings(github, app.repo, **env)))
    assert forge.find_open_pr("promote/dev", "main") is None
    ops = [r["operation"] for r in github.requests(since)]
    assert "apps/get-repo-installation" not in ops
    assert ops[0] == "apps/create-installation-access-token"


def test_the_private_key_may_come_from_a_file(github: LocalGitHub, app: App, tmp_path: Path):
    key_file = tmp_path / "app.pem"
    key_file.write_text(app.key.private_pem)
    env = {"GITHUB_APP_ID": str(app.app_id), "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file)}
    auth = forge_auth(_settings(github, app.repo, **env))
    assert isinstance(auth, RefreshingInstallationAuth)


def test_a_wrong_key_is_a_clear_settings_error_that_exits_2_and_never_shows_the_key(
    github: LocalGitHub, app: App
):
    other = new_app_key()
    env = {"GITHUB_APP_ID": str(app.app_id), "GITHUB_APP_PRIVATE_KEY": other.private_pem}
    with pytest.raises(GitHubAppAuthError) as refused:
        forge_auth(_settings(github, app.repo, **env))
    message = str(refused.value)
    assert f"GitHub App {app.app_id}" in message
    assert "HTTP 401: A JSON web token could not be decoded" in message
    assert "is this app's" in message
    assert "PRIVATE KEY" not in message and other.private_pem[40:80] not in message
    assert exit_code_for(refused.value, ERROR_CODES) == EXIT_USAGE


def test_an_app_not_installed_on_the_repository_is_a_clear_error(github: LocalGitHub, app: App):
    elsewhere = f"{app.repo}-elsewhere"
    github.create_repo(elsewhere)
    with pytest.raises(GitHubAppAuthError, match=r"HTTP 404.*is the app installed"):
        forge_auth(_settings(github, elsewhere, **_app_env(app)))


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"GITHUB_APP_ID": "twelve"}, "GITHUB_APP_ID must be a positive integer"),
        ({"GITHUB_APP_ID": "12"}, "set exactly one of GITHUB_APP_PRIVATE_KEY"),
        (
            {
                "GITHUB_APP_ID": "12",
                "GITHUB_APP_PRIVATE_KEY": "x",
                "GITHUB_APP_PRIVATE_KEY_FILE": "y",
            },
            "set exactly one of",
        ),
        (
            {"GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY": "-----BEGIN secret-----"},
            "GITHUB_APP_PRIVATE_KEY: not a PEM private key",
        ),
        (
            {"GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY_FILE": "/nonexistent/key.pem"},
            "cannot read /nonexistent/key.pem",
        ),
    ],
)
def test_bad_app_settings_are_refused_before_any_request(
    github: LocalGitHub, env: dict[str, str], match: str
):
    since = github.last_seq()
    with pytest.raises(GitHubAppAuthError, match=match) as refused:
        forge_auth(_settings(github, "o/r", **env))
    assert "secret" not in str(refused.value)
    assert github.requests(since) == []


def test_the_private_key_is_kept_out_of_repr(app: App):
    settings = github_auth.app_settings(_app_env(app))
    assert settings is not None
    assert "BEGIN" not in repr(settings) and app.key.private_pem[40:80] not in repr(settings)


def test_the_token_is_renewed_before_it_expires_during_a_long_run(github: LocalGitHub, app: App):
    """The bot's clock and the server's move together (an hour passes without sleeping)."""
    elapsed = [0.0]

    def clock() -> float:
        return time.time() + elapsed[0]

    auth = forge_auth(_settings(github, app.repo, **_app_env(app)), clock=clock)
    assert isinstance(auth, RefreshingInstallationAuth)
    forge = _forge(github, app, auth)
    since = github.last_seq()
    assert forge.find_open_pr("promote/dev", "main") is None
    assert (auth.minted, len(_minted(github, since))) == (1, 0)

    # Later in the run, but short of REFRESH_BEFORE: the same token.
    elapsed[0] = 3600 - REFRESH_BEFORE - 60
    github.set_clock_offset(elapsed[0])
    forge.find_open_pr("promote/dev", "main")
    assert auth.minted == 1

    # Past it (and past the first token's expiry on the server): a new token, then the write.
    elapsed[0] = 3700
    github.set_clock_offset(elapsed[0])
    pr = forge.create_pr(title="Promote dev", body="b", head="promote/dev", base="main")
    assert pr.number >= 1
    assert (auth.minted, len(_minted(github, since))) == (2, 1)


def test_an_expired_token_is_refused_by_the_server_if_the_bot_did_not_renew_it(
    github: LocalGitHub, app: App
):
    auth = forge_auth(_settings(github, app.repo, **_app_env(app)))
    forge = _forge(github, app, auth)
    github.set_clock_offset(3700)  # only the server's clock: the bot does not know
    with pytest.raises(ForgeError, match="HTTP 401: Bad credentials"):
        forge.find_open_pr("promote/dev", "main")


# --- git -------------------------------------------------------------------------------------


def _fill(env: dict[str, str], host: str, *, ok: bool = True) -> dict[str, str]:
    """Ask real git for the credentials of `https://<host>/...` (no prompt: without a helper
    for the host, git fails)."""
    done = subprocess.run(
        ["git", "credential", "fill"],
        input=f"protocol=https\nhost={host}\npath=apps/gitops.git\n\n",
        capture_output=True,
        text=True,
        env={**env, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""},
        check=False,
        timeout=60,
    )
    assert (done.returncode == 0) == ok, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def _git_env(settings: Settings, base: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith("GIT_CONFIG_")}
    env |= {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    return env | git_credential_env(settings, env)


def test_git_gets_a_fresh_installation_token_from_the_credential_helper(
    github: LocalGitHub, app: App
):
    remote = "https://git.example.test/apps/gitops.git"
    settings = _settings(github, app.repo, remote=remote, **_app_env(app))
    env = _git_env(settings, {**os.environ, **_app_env(app)})
    config = [v for k, v in env.items() if k.startswith("GIT_CONFIG_VALUE_")]
    assert config and not any("BEGIN" in v for v in config)  # it names where the key is
    first, second = _fill(env, "git.example.test"), _fill(env, "git.example.test")
    assert first["username"] == second["username"] == "x-access-token"
    assert first["password"].startswith("ghs_") and first["password"] != second["password"]
    resp = requests.get(
        f"{github.url}/repos/{app.repo}",
        headers={"Authorization": f"token {second['password']}"},
        timeout=10,
    )
    assert resp.status_code == 200


def test_the_credential_helper_is_scoped_to_the_remotes_origin_and_only_for_an_app(
    github: LocalGitHub, app: App, tmp_path: Path
):
    key_file = tmp_path / "app.pem"
    key_file.write_text(app.key.private_pem)
    file_env = {"GITHUB_APP_ID": str(app.app_id), "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file)}
    remote = "https://git.example.test/apps/gitops.git"
    settings = _settings(github, app.repo, remote=remote, **file_env)
    env = _git_env(settings, dict(os.environ))
    helper = env[f"GIT_CONFIG_VALUE_{int(env['GIT_CONFIG_COUNT']) - 1}"]
    assert f"file:{key_file}" in helper and "BEGIN" not in helper
    assert _fill(env, "git.example.test")["password"].startswith("ghs_")
    assert "password" not in _fill(env, "other.example.test", ok=False)  # not other hosts

    assert (
        git_credential_env(_settings(github, app.repo, remote=remote, GITHUB_TOKEN="t"), {}) == {}
    )
    ssh = _settings(github, app.repo, remote="ssh://github.com/apps/gitops.git", **file_env)
    assert git_credential_env(ssh, {}) == {}
    existing = git_credential_env(settings, {"GIT_CONFIG_COUNT": "2"})
    assert existing["GIT_CONFIG_COUNT"] == "4" and "GIT_CONFIG_KEY_2" in existing


def test_make_forge_uses_the_app_when_its_id_is_set(github: LocalGitHub, app: App):
    since = github.last_seq()
    forge = make_forge(_settings(github, app.repo, GITHUB_TOKEN="ignored", **_app_env(app)))
    assert forge.open_prs("main") == {}
    logins = {r["login"] for r in github.requests(since) if r["operation"] == "pulls/list"}
    assert logins == {"promotion-bot[bot]"}


def test_installing_the_helper_gives_git_the_key_where_the_helper_reads_it(
    github: LocalGitHub, app: App
):
    remote = "https://git.example.test/apps/gitops.git"
    settings = _settings(github, app.repo, remote=remote, **_app_env(app))
    target: dict[str, str] = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.x"}
    assert github_auth.install_git_credential_helper(settings, target)
    assert target["GIT_CONFIG_COUNT"] == "3" and target["GIT_CONFIG_KEY_0"] == "core.x"
    assert target["GITHUB_APP_PRIVATE_KEY"] == app.key.private_pem
    path_remote = _settings(github, app.repo, **_app_env(app))
    assert not github_auth.install_git_credential_helper(path_remote, {})


# --- the whole bot, through its CLI ----------------------------------------------------------


@pytest.fixture
def app_world(
    tmp_path: Path,
    github: LocalGitHub,
    registry: Registry,
    azurite: Azurite,
    key: AppKey,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[GitOpsWorld]:
    """A GitOps world with a promotion due on dev, the app installed on its repository, and
    the bot's environment holding the app's settings instead of a token."""
    gw = GitOpsWorld(tmp_path / "world", github, registry, azurite)
    gw.seed_with_dev_due()
    github.add_app(stable_id("bot-app", request.node.nodeid), key.public_pem, [gw.repo_name])
    env = gw.environ()
    del env["GITHUB_TOKEN"]
    env |= {
        "GITHUB_APP_ID": str(stable_id("bot-app", request.node.nodeid)),
        "GITHUB_APP_PRIVATE_KEY": key.private_pem,
    }
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("FORGE_TOKEN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield gw
    github.set_clock_offset(0)


def test_promotion_bot_run_opens_its_pr_as_the_app(
    app_world: GitOpsWorld, github: LocalGitHub, key: AppKey, capsys: pytest.CaptureFixture[str]
):
    since = github.last_seq()
    assert main(["run"]) == 0
    out, err = capsys.readouterr()
    created = [r for r in github.requests(since) if r["operation"] == "pulls/create"]
    assert [r["login"] for r in created] == ["promotion-bot[bot]"]
    assert key.private_pem[40:80] not in out + err


def test_promotion_bot_with_a_wrong_key_exits_2_before_writing_anything(
    app_world: GitOpsWorld,
    github: LocalGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    wrong = new_app_key()
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", wrong.private_pem)
    since = github.last_seq()
    assert main(["run"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "A JSON web token could not be decoded" in err and err.count("\n") == 1
    assert wrong.private_pem[40:80] not in err
    token_requests = "apps/create-installation-access-token"
    assert [r for r in github.writes(since) if r["operation"] != token_requests] == []
    assert git(app_world.remote, "branch", "--list", "promote/*").strip() == ""


def test_an_app_counts_as_forge_credentials_and_its_key_is_a_secret_to_redact(
    github: LocalGitHub, key: AppKey
):
    env = {"GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY": key.private_pem}
    settings = _settings(github, "o/r", **env)
    assert settings.forge_credentials_set()
    assert not _settings(github, "o/r").forge_credentials_set()
    body_lines = [line for line in key.private_pem.splitlines() if "-----" not in line]
    secrets = settings.secrets()
    assert key.private_pem.strip() in secrets
    assert all(line in secrets for line in body_lines if len(line) >= 32)


def test_as_an_app_the_bot_knows_its_login_is_the_apps_bot_user(github: LocalGitHub, app: App):
    """`GET /app` with the app's JWT names its slug: its writes are by `<slug>[bot]`."""
    forge = _forge(github, app, forge_auth(_settings(github, app.repo, **_app_env(app))))
    issue = forge.create_issue("Promotion dashboard", "<!-- m -->", [])
    assert issue.author == forge.identity() == "promotion-bot[bot]"
