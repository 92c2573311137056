"""GitHub Apps on the local GitHub: real RS256 JWTs from PyGithub, installation tokens that
expire on the server's clock and carry permissions, held to GitHub's description."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from github import Auth, Github, GithubException, GithubIntegration

from localworld.errors import LocalWorldError
from localworld.github import LocalGitHub, start_github
from localworld.github import apps as rules
from localworld.github.errors import BadAppSpecError
from localworld.github.routes.apps import NOT_GRANTED
from tests.localworld.github.conftest import (
    AppKey,
    Checkout,
    InstalledApp,
    app_id_for,
    client,
    new_app_key,
)


def _integration(github: LocalGitHub, app: InstalledApp, **auth: Any) -> GithubIntegration:
    return GithubIntegration(
        auth=Auth.AppAuth(app.app_id, app.key.private_pem, **auth),
        base_url=github.url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def _signed(key: AppKey, claims: dict[str, Any]) -> str:
    """A JWT with exactly these claims (an integer `iss` too, which pyjwt's encode refuses)."""
    payload = json.dumps(claims).encode()
    return jwt.api_jws.PyJWS().encode(payload, key.private_pem, algorithm="RS256")


def _call(github: LocalGitHub, method: str, path: str, token: str, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    return requests.request(method, f"{github.url}{path}", headers=headers, timeout=10, **kw)


def _branch(checkout: Checkout, name: str) -> None:
    checkout.start_branch(name)
    checkout.commit(name, {"deploy/overlays/dev/kustomization.yaml": "newTag: '2'\n"}, "bump")
    checkout.push(name)


def test_pygithub_authenticates_as_the_app_and_opens_a_pr_with_an_installation_token(
    github: LocalGitHub, installed_app: InstalledApp, checkout: Checkout
):
    integration = _integration(github, installed_app)
    app = integration.get_app()
    assert (app.id, app.slug) == (installed_app.app_id, "promotion-bot")
    assert app.permissions["pull_requests"] == "write"
    owner, name = installed_app.repo.split("/")
    installation = integration.get_repo_installation(owner, name)
    assert installation.id == installed_app.installation_id

    before = datetime.now(UTC)
    access = integration.get_access_token(installation.id)
    assert access.token.startswith("ghs_")
    lifetime = access.expires_at - before
    assert timedelta(minutes=59) < lifetime <= timedelta(minutes=60, seconds=1)
    assert access.permissions == dict(rules.DEFAULT_PERMISSIONS)

    _branch(checkout, "promote/dev")
    gh = Github(
        base_url=github.url,
        auth=Auth.AppInstallationAuth(
            Auth.AppAuth(installed_app.app_id, installed_app.key.private_pem), installation.id
        ),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    pr = gh.get_repo(installed_app.repo).create_pull(base="main", head="promote/dev", title="t")
    assert (pr.user.login, pr.user.type) == ("promotion-bot[bot]", "Bot")  # its own identity
    logged = [e for e in github.requests() if e["path"].endswith("/access_tokens")]
    assert logged and logged[-1]["login"] == "promotion-bot"


def test_the_app_id_may_be_an_integer_or_a_string_and_a_tokens_scheme_token_or_bearer(
    github: LocalGitHub, installed_app: InstalledApp
):
    now = int(time.time())
    for iss in (installed_app.app_id, str(installed_app.app_id)):
        token = _signed(installed_app.key, {"iat": now - 60, "exp": now + 300, "iss": iss})
        assert _call(github, "GET", "/app", token).status_code == 200
    resp = requests.get(
        f"{github.url}/app", headers={"Authorization": f"token {token}"}, timeout=10
    )
    assert resp.json()["id"] == installed_app.app_id


def _jwt_refusal(github: LocalGitHub, token: str) -> str:
    resp = _call(github, "GET", "/app", token)
    assert resp.status_code == 401, resp.text
    message: str = resp.json()["message"]
    return message


def test_clock_skew_of_up_to_60_seconds_is_accepted_and_beyond_it_refused(
    github: LocalGitHub, installed_app: InstalledApp
):
    now = int(time.time())
    claims = {"iss": str(installed_app.app_id), "exp": now + 300}
    ahead = _signed(installed_app.key, {**claims, "iat": now + 50})
    assert _call(github, "GET", "/app", ahead).status_code == 200
    too_far_ahead = _signed(installed_app.key, {**claims, "iat": now + 75})
    assert _jwt_refusal(github, too_far_ahead) == rules.BAD_IAT

    # PyGithub backdates `iat` by 60 s; a server whose clock is behind the client's by 100 s
    # sees it 40 s in the future (accepted), by 140 s 80 s in the future (refused).
    integration = _integration(github, installed_app)
    github.set_clock_offset(-100)
    assert integration.get_app().id == installed_app.app_id
    github.set_clock_offset(-140)
    with pytest.raises(GithubException) as refused:
        integration.get_app()
    assert (refused.value.status, refused.value.data["message"]) == (401, rules.BAD_IAT)


def test_expired_too_long_lived_and_badly_signed_jwts_are_refused_with_githubs_messages(
    github: LocalGitHub, installed_app: InstalledApp
):
    now, iss = int(time.time()), str(installed_app.app_id)
    key = installed_app.key
    cases = {
        rules.EXPIRED: _signed(key, {"iss": iss, "iat": now - 600, "exp": now - 1}),
        rules.TOO_FAR: _signed(key, {"iss": iss, "iat": now - 60, "exp": now + 660}),
        rules.UNDECODABLE: _signed(new_app_key(), {"iss": iss, "iat": now, "exp": now + 60}),
        rules.BAD_ISSUER: _signed(key, {"iss": "someone", "iat": now, "exp": now + 60}),
    }
    for message, token in cases.items():
        assert _jwt_refusal(github, token) == message
    assert _jwt_refusal(github, "eyJ.not.ajwt") == rules.UNDECODABLE
    unknown_app = _signed(key, {"iss": "1", "iat": now, "exp": now + 60})
    assert _jwt_refusal(github, unknown_app) == rules.UNDECODABLE
    assert _jwt_refusal(github, github.token) == rules.UNDECODABLE  # a PAT is not the app

    # A JWT proves the app, not a user: it opens nothing else.
    fine = _signed(key, {"iss": iss, "iat": now - 60, "exp": now + 300})
    resp = _call(github, "GET", f"/repos/{installed_app.repo}", fine)
    assert (resp.status_code, resp.json()["message"]) == (401, "Bad credentials")


def test_a_jwt_expires_on_the_servers_clock(github: LocalGitHub, installed_app: InstalledApp):
    integration = _integration(github, installed_app)  # exp = now + 300
    github.set_clock_offset(301)
    with pytest.raises(GithubException) as refused:
        integration.get_app()
    assert refused.value.data["message"] == rules.EXPIRED


def test_an_installation_token_works_until_it_expires_on_the_servers_clock(
    github: LocalGitHub, installed_app: InstalledApp
):
    access = _integration(github, installed_app).get_access_token(installed_app.installation_id)
    repo_path = f"/repos/{installed_app.repo}"
    assert _call(github, "GET", repo_path, access.token).status_code == 200
    github.set_clock_offset(3590)
    assert _call(github, "GET", repo_path, access.token).status_code == 200
    github.set_clock_offset(3601)
    resp = _call(github, "GET", repo_path, access.token)
    assert (resp.status_code, resp.json()["message"]) == (401, "Bad credentials")
    github.set_clock_offset(0)
    assert _call(github, "GET", repo_path, access.token).status_code == 200


def test_a_token_without_the_permission_is_refused_as_github_refuses_an_integration(
    github: LocalGitHub, installed_app: InstalledApp, checkout: Checkout
):
    integration = _integration(github, installed_app)
    read_only = integration.get_access_token(
        installed_app.installation_id,
        permissions={"pull_requests": "read", "contents": "read", "issues": "read"},
    )
    assert read_only.permissions == {"pull_requests": "read", "contents": "read", "issues": "read"}
    _branch(checkout, "promote/dev")
    gh = client(github, read_only.token)
    repo = gh.get_repo(installed_app.repo)
    sha = checkout.remote_sha("main")
    writes = {
        "pull_requests": lambda: repo.create_pull(base="main", head="promote/dev", title="t"),
        "issues": lambda: repo.create_issue(title="blocked"),
        "statuses": lambda: repo.get_commit(sha).create_status("success", context="c"),
        "contents": lambda: repo.create_git_ref("refs/heads/other", sha),
    }
    for what, write in writes.items():
        with pytest.raises(GithubException) as refused:
            write()
        assert refused.value.status == 403, what
        assert refused.value.data["message"] == "Resource not accessible by integration"
    assert repo.get_pulls(state="open").totalCount == 0  # reads it holds still work
    with pytest.raises(GithubException) as no_statuses:
        list(repo.get_commit(sha).get_statuses())
    assert no_statuses.value.status == 403

    writer = integration.get_access_token(
        installed_app.installation_id, permissions={"pull_requests": "write"}
    )
    pr = (
        client(github, writer.token)
        .get_repo(installed_app.repo)
        .create_pull(base="main", head="promote/dev", title="t")
    )
    assert pr.number >= 1
    with pytest.raises(GithubException) as user_route:
        client(github, writer.token).get_user().login  # noqa: B018
    assert user_route.value.status == 403


def test_a_token_asks_for_no_more_than_the_installation_holds(
    github: LocalGitHub, installed_app: InstalledApp
):
    resp = _call(
        github,
        "POST",
        f"/app/installations/{installed_app.installation_id}/access_tokens",
        _signed_now(installed_app),
        json={"permissions": {"administration": "write"}},
    )
    assert (resp.status_code, resp.json()["message"]) == (422, NOT_GRANTED)


def _signed_now(app: InstalledApp) -> str:
    now = int(time.time())
    return _signed(app.key, {"iss": str(app.app_id), "iat": now - 60, "exp": now + 300})


def test_a_token_narrowed_to_some_repositories_sees_only_those(
    github: LocalGitHub, app_key: AppKey, request: pytest.FixtureRequest, checkout: Checkout
):
    owner = "appsowner"
    for name in ("one", "two"):
        if not github.remote_path(f"{owner}/{name}").exists():
            github.create_repo(f"{owner}/{name}")
    app_id = app_id_for(request)
    installation = github.add_app(app_id, app_key.public_pem, [f"{owner}/*"], slug="wide")
    path = f"/app/installations/{installation}/access_tokens"
    token = _signed(
        app_key, {"iss": str(app_id), "iat": int(time.time()) - 60, "exp": int(time.time()) + 300}
    )
    resp = _call(github, "POST", path, token, json={"repositories": ["one"]})
    assert resp.status_code == 201, resp.text
    narrowed = resp.json()
    assert narrowed["repository_selection"] == "selected"
    assert [r["full_name"] for r in narrowed["repositories"]] == [f"{owner}/one"]
    assert _call(github, "GET", f"/repos/{owner}/one", narrowed["token"]).status_code == 200
    assert _call(github, "GET", f"/repos/{owner}/two", narrowed["token"]).status_code == 404

    everything = _call(github, "POST", path, token, json={}).json()
    assert everything["repository_selection"] == "all" and "repositories" not in everything
    assert _call(github, "GET", f"/repos/{owner}/two", everything["token"]).status_code == 200
    # Outside the installation: another owner's repository, or one that does not exist.
    assert (
        _call(github, "GET", f"/repos/{checkout.full_name}", everything["token"]).status_code == 404
    )
    for body in ({"repositories": ["missing"]}, {"repositories": ["localworld/one"]}):
        resp = _call(github, "POST", path, token, json=body)
        assert resp.status_code == 422, body
    assert _call(github, "POST", path, token, json={"repositories": "one"}).status_code == 422


def test_an_installation_is_found_only_for_the_repositories_it_covers(
    github: LocalGitHub, installed_app: InstalledApp, checkout: Checkout
):
    token = _signed_now(installed_app)
    assert (
        _call(github, "GET", f"/repos/{installed_app.repo}/installation", token).status_code == 200
    )
    other = f"{installed_app.repo}-other"
    github.create_repo(other)
    assert _call(github, "GET", f"/repos/{other}/installation", token).status_code == 404
    missing = _call(github, "POST", "/app/installations/1/access_tokens", token, json={})
    assert missing.status_code == 404


def test_registering_an_app_checks_its_key_repositories_and_permissions(
    github: LocalGitHub, app_key: AppKey
):
    bad = [
        (7, app_key.private_pem, ["o/r"], None),  # the private half is not a public key
        (7, "not a key", ["o/r"], None),
        (7, app_key.public_pem, [], None),
        (7, app_key.public_pem, ["a/r", "b/r"], None),  # one owner per installation
        (7, app_key.public_pem, ["o/r"], {"contents": "admin"}),
    ]
    for app_id, pem, repos, permissions in bad:
        with pytest.raises(LocalWorldError, match="422"):
            github.add_app(app_id, pem, repos, permissions=permissions)


def _read(path: str) -> str:
    return Path(path).read_text()


def test_app_specs_from_the_command_line_are_checked(tmp_path: Path, app_key: AppKey):
    key_file = tmp_path / "app.pem"
    key_file.write_text(app_key.public_pem)
    app, repos = rules.parse_app_spec(f"42:bot:{key_file}:o/r,o/s", _read)
    assert (app.id, app.slug, app.owner, repos) == (42, "bot", "o", ("o/r", "o/s"))
    with pytest.raises(BadAppSpecError, match="expected APP_ID:SLUG"):
        rules.parse_app_spec("42:bot", _read)
    with pytest.raises(BadAppSpecError, match="cannot read"):
        rules.parse_app_spec(f"42:bot:{tmp_path}/none.pem:o/r", _read)


def test_a_server_started_with_an_app_serves_it(tmp_path: Path, app_key: AppKey):
    key_file = tmp_path / "app.pem"
    key_file.write_text(app_key.public_pem)
    service = start_github(
        tmp_path / "repos",
        tmp_path / "logs",
        ["t:o/*"],
        repos=["o/gitops"],
        apps=[f"77:cli-bot:{key_file}:o/gitops"],
    )
    try:
        now = int(time.time())
        token = _signed(app_key, {"iss": 77, "iat": now - 60, "exp": now + 300})
        found = _call(service, "GET", "/repos/o/gitops/installation", token).json()
        assert (found["app_id"], found["app_slug"]) == (77, "cli-bot")
    finally:
        service.process.stop()


def test_the_app_endpoints_are_in_the_contract(github_openapi, github: LocalGitHub):
    for op in (
        "apps/get-authenticated",
        "apps/get-repo-installation",
        "apps/create-installation-access-token",
    ):
        assert op in github_openapi.operations


def test_a_statuses_only_token_posts_and_lists_statuses_and_nothing_else(
    github: LocalGitHub, installed_app: InstalledApp, checkout: Checkout
):
    """What deploy/README.md gives the clusters (issue 14: least privilege, statuses only):
    Flux's notification-controller lists a commit's statuses then posts one, on exactly these
    routes (go-github `ListStatuses`, `CreateStatus`); Argo CD posts. That token can do
    exactly that, and cannot open a PR or an issue, push a ref or read the code."""
    integration = _integration(github, installed_app)
    token = integration.get_access_token(
        installed_app.installation_id, permissions={"statuses": "write"}
    ).token
    _branch(checkout, "promote/dev")
    sha, base = checkout.remote_sha("main"), f"/repos/{installed_app.repo}"
    status = {
        "state": "success",
        "description": "reconciliation succeeded",
        "context": "kustomization/modelops-dev/aks-modelops",
    }
    assert _call(github, "GET", f"{base}/commits/{sha}/statuses", token).json() == []
    assert _call(github, "POST", f"{base}/statuses/{sha}", token, json=status).status_code == 201
    listed = _call(github, "GET", f"{base}/commits/{sha}/statuses", token).json()
    assert [s["context"] for s in listed] == [status["context"]]
    refused = {
        "open a PR": ("POST", "/pulls", {"base": "main", "head": "promote/dev", "title": "t"}),
        "open an issue": ("POST", "/issues", {"title": "blocked"}),
        "push a ref": ("POST", "/git/refs", {"ref": "refs/heads/other", "sha": sha}),
        "read the code": ("GET", f"/commits/{sha}", None),
    }
    for what, (method, path, body) in refused.items():
        answer = _call(github, method, base + path, token, json=body)
        assert answer.status_code == 403, what
