"""The Azure Repos forge against the local Azure Repos (real bare repositories; every exchange
validated against Microsoft's published 7.1 specifications by the `azure_repos` fixture)."""

from __future__ import annotations

import html
import os
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
import requests

from bot.adapters.azure_repos import (
    AzureReposForge,
    _markdown,
    entra_token_source,
    fit_description,
    identity_url,
)
from bot.adapters.azure_repos_auth import git_header_env, install_git_bearer_header
from bot.adapters.forges import make_forge
from bot.core.policy import Reviewer
from bot.forge import CommitStatus, ForgeConflictError, ForgeError, PullRequest, StatusState
from bot.settings import Settings
from localworld.azure_repos import LocalAzureRepos
from tests.conftest import AZURE_REPOS_BOT, AZURE_REPOS_TEST_TOKEN, git


@pytest.fixture
def repo(azure_repos: LocalAzureRepos, tmp_path: Path) -> tuple[str, Path]:
    """`modelops/<name>` with main and promote/dev (one commit ahead); the work tree."""
    name = f"modelops/r{uuid.uuid4().hex[:8]}"
    remote = azure_repos.create_repo(name)
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "f").write_text("1\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "first")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "-b", "promote/dev")
    (work / "f").write_text("2\n")
    git(work, "commit", "-q", "-am", "promote dev\n\nbody")
    git(work, "push", "-q", "origin", "promote/dev")
    return name, work


def _forge(
    azure_repos: LocalAzureRepos,
    name: str,
    *,
    reviewers_required: bool = True,
    bot_identity: str | None = None,
) -> AzureReposForge:
    return AzureReposForge(
        azure_repos.url,
        AZURE_REPOS_TEST_TOKEN,
        name,
        backoff_factor=0,
        reviewers_required=reviewers_required,
        bot_identity=bot_identity,
    )


def _open(
    forge: AzureReposForge, labels: Sequence[str] = (), reviewers: Sequence[Reviewer] = ()
) -> PullRequest:
    return forge.create_pr(
        title="promote(dev)",
        body="the body",
        head="promote/dev",
        base="main",
        labels=labels,
        reviewers=reviewers,
    )


def test_a_pr_is_created_with_labels_and_required_team_and_user_reviewers(azure_repos, repo):
    name, work = repo
    forge = _forge(azure_repos, name)
    since = azure_repos.last_seq()
    pr = _open(
        forge,
        labels=["env/dev", "promotion"],
        reviewers=[Reviewer("ml-reviewers", "modelops"), Reviewer("reviewer-2")],
    )
    assert (pr.state, pr.merged, pr.head_ref, pr.base_ref) == ("open", False, "promote/dev", "main")
    assert pr.head_sha == git(work, "rev-parse", "HEAD").strip()
    assert pr.labels == ("env/dev", "promotion")
    assert {r.key for r in pr.requested} == {"modelops/ml-reviewers", "reviewer-2"}
    assert [w["operation"] for w in azure_repos.writes(since)] == ["Pull Requests_Create"]
    raw = azure_repos.requests(since, bodies=True)[-1]["request_body"]
    assert {r["isRequired"] for r in raw["reviewers"]} == {True}
    assert forge.find_open_pr("promote/dev", "main") == pr
    assert list(forge.open_prs("main", "promote/")) == ["promote/dev"]
    assert forge.open_prs("main", "hold/") == {}

    optional = _forge(azure_repos, name, reviewers_required=False)
    optional.request_reviews(pr.number, [Reviewer("sre", "modelops")])
    assert not optional.reviewed(pr.number)
    azure_repos.vote(pr.number, "reviewer-2", 10)
    assert forge.reviewed(pr.number)
    assert {r.key for r in forge.get_pr(pr.number).requested} == {
        "modelops/ml-reviewers",
        "modelops/sre",
    }


def test_an_unknown_reviewer_fails_before_anything_is_written(azure_repos, repo):
    name, _ = repo
    forge = _forge(azure_repos, name)
    since = azure_repos.last_seq()
    with pytest.raises(ForgeError, match="no single team '\\[modelops\\]\\\\\\\\nobody'"):
        _open(forge, reviewers=[Reviewer("nobody", "modelops")])
    with pytest.raises(ForgeError, match="no single user 'ml-reviewers'"):
        _open(forge, reviewers=[Reviewer("ml-reviewers")])  # a team written as a bare name
    assert azure_repos.writes(since) == []


def test_update_comment_close_and_rejected_prs(azure_repos, repo):
    name, _ = repo
    forge = _forge(azure_repos, name)
    pr = _open(forge)
    forge.update_pr(pr.number, title="promote(dev): v2", body="new body", add_labels=["promotion"])
    forge.comment(pr.number, "automerge stopped: ci/test failed")
    updated = forge.get_pr(pr.number)
    assert (updated.title, updated.body, updated.labels) == (
        "promote(dev): v2",
        "new body",
        ("promotion",),
    )
    forge.close_pr(pr.number, "Closed by promotion-bot: no longer needed")
    comments = forge.comments(pr.number)
    assert [c.body for c in comments] == [
        "automerge stopped: ci/test failed",
        "Closed by promotion-bot: no longer needed",
    ]
    assert {c.author for c in comments} == {AZURE_REPOS_BOT}
    closed = forge.get_pr(pr.number)
    assert (closed.state, closed.merged) == ("closed", False)
    assert [p.number for p in forge.closed_prs("promote/dev", "main")] == [pr.number]
    assert forge.find_open_pr("promote/dev", "main") is None


@pytest.mark.parametrize(("method", "parents"), [("squash", 1), ("merge", 2), ("rebase", 1)])
def test_merge_completes_with_the_strategy_only_at_the_expected_head(
    azure_repos, repo, method: str, parents: int
):
    name, _ = repo
    forge = _forge(azure_repos, name)
    pr = _open(forge)
    with pytest.raises(ForgeConflictError, match="409"):
        forge.merge_pr(pr.number, sha="0" * 40, method=method)
    merged = forge.merge_pr(pr.number, sha=pr.head_sha, method=method)
    remote = azure_repos.remote_path(name)
    assert git(remote, "rev-parse", "main").strip() == merged
    assert len(git(remote, "rev-list", "--parents", "-n1", merged).split()) == parents + 1
    done = forge.get_pr(pr.number)
    assert (done.state, done.merged) == ("closed", True)


def test_a_head_moved_during_completion_is_a_conflict(azure_repos, repo):
    name, _ = repo
    forge = _forge(azure_repos, name)
    pr = _open(forge)
    azure_repos.inject("head_moved", method="PATCH", path="/pullrequests/")
    with pytest.raises(ForgeConflictError):
        forge.merge_pr(pr.number, sha=pr.head_sha)
    assert forge.get_pr(pr.number).state == "open"


def test_auto_complete_is_set_by_the_bot_and_completes(azure_repos, repo):
    name, _ = repo
    forge = _forge(azure_repos, name)
    pr = _open(forge)
    done = forge.enable_auto_complete(pr.number, method="squash")
    assert (done.state, done.merged) == ("closed", True)  # no policy pending here


def test_a_5xx_on_create_is_not_repeated_blindly(azure_repos, repo):
    name, _ = repo
    forge = _forge(azure_repos, name)
    azure_repos.inject("status", status=502, method="POST", path="/pullrequests$")
    since = azure_repos.last_seq()
    pr = _open(forge, labels=["promotion"])
    creates = [w for w in azure_repos.writes(since) if w["operation"] == "Pull Requests_Create"]
    assert [w["status"] for w in creates] == [502, 200]  # looked first, found none, created once
    assert list(forge.open_prs("main")) == ["promote/dev"]
    assert pr.labels == ("promotion",)


def test_reads_are_retried_through_a_throttle(azure_repos, repo):
    name, _ = repo
    forge = _forge(azure_repos, name)
    azure_repos.inject(
        "status", status=429, method="GET", path="/pullrequests$", times=2, retry_after=0
    )
    assert forge.open_prs("main") == {}


def _post_status_as_flux(azure_repos: LocalAzureRepos, name: str, sha: str, cluster: str) -> None:
    """What Flux's notification-controller (provider `azuredevops`) posts for a Kustomization:
    genre `fluxcd`, the same name it uses as the context on GitHub, `succeeded` or `error`."""
    project, _, repo = name.partition("/")
    url = f"{azure_repos.url}/{project}/_apis/git/repositories/{repo}/commits/{sha}/statuses"
    body = {
        "description": "ReconciliationSucceeded",
        "state": "succeeded",
        "context": {"genre": "fluxcd", "name": f"kustomization/modelops-dev/{cluster}"},
    }
    headers = {"Authorization": f"Bearer {AZURE_REPOS_TEST_TOKEN}"}
    resp = requests.post(url, params={"api-version": "7.1"}, json=body, headers=headers, timeout=10)
    resp.raise_for_status()


def test_compare_and_commit_statuses(azure_repos, repo):
    name, work = repo
    forge = _forge(azure_repos, name)
    head = git(work, "rev-parse", "HEAD").strip()
    since = azure_repos.last_seq()
    span = forge.compare("main", head)
    assert [(c.sha, c.subject) for c in span.commits] == [(head, "promote dev")]
    forge.create_status(head, CommitStatus("deploy/prod", StatusState.PENDING, "applying"))
    forge.create_status(
        head,
        CommitStatus("deploy/prod", StatusState.SUCCESS, "applied", "https://flux.example/prod"),
    )
    forge.create_status(head, CommitStatus("ci", StatusState.FAILURE, "red"))
    _post_status_as_flux(azure_repos, name, head, "0c9c2e41")
    flux = forge.list_statuses(head)[0]
    assert (flux.context, flux.state) == (
        "kustomization/modelops-dev/0c9c2e41",
        StatusState.SUCCESS,
    )
    own = [
        r for r in azure_repos.requests(since, bodies=True) if r["operation"] == "Statuses_Create"
    ]
    assert own[0]["request_body"]["context"] == {"genre": "promotion-bot", "name": "deploy/prod"}
    listed = forge.list_statuses("promote/dev")[1:]
    assert [(s.context, s.state) for s in listed] == [
        ("ci", StatusState.FAILURE),
        ("deploy/prod", StatusState.SUCCESS),
        ("deploy/prod", StatusState.PENDING),
    ]
    assert listed[1].target_url == "https://flux.example/prod"
    assert listed[0].created_at is not None
    assert {s.creator for s in forge.list_statuses(head)} == {AZURE_REPOS_BOT}
    assert forge.head_checks(head) == {
        "kustomization/modelops-dev/0c9c2e41": StatusState.SUCCESS,
        "ci": StatusState.FAILURE,
        "deploy/prod": StatusState.SUCCESS,
    }


def test_the_release_blocked_record_is_a_tagged_work_item(azure_repos, repo):
    name, _ = repo
    forge = _forge(azure_repos, name)
    assert forge.find_open_issue(label="release-blocked") is None
    issue = forge.create_issue("release blocked", "**bad pin** <!-- m -->", ["release-blocked"])
    assert (issue.state, issue.labels, issue.body) == (
        "open",
        ("release-blocked",),
        "**bad pin** <!-- m -->",
    )
    assert forge.find_open_issue(label="release-blocked", marker="<!-- other -->") is None
    forge.update_issue(issue.number, "still <b>bad</b> <!-- m -->")
    found = forge.find_open_issue(label="release-blocked", marker="<!-- m -->")
    assert found is not None and found.body == "still <b>bad</b> <!-- m -->"
    assert issue.author and found.author == issue.author  # System.CreatedBy's unique name
    assert forge.find_open_issue(label="release-blocked", author="someone-else") is None
    assert forge.identity() is None  # not told (AZURE_REPOS_BOT_IDENTITY): the dashboard says so
    told = _forge(azure_repos, name, bot_identity=AZURE_REPOS_BOT)
    assert issue.author == told.identity() == AZURE_REPOS_BOT  # the build service's name
    assert told.find_open_issue(label="release-blocked", author=told.identity()) == found
    forge.close_issue(issue.number, "released")
    assert forge.find_open_issue(label="release-blocked") is None


def test_bad_token_is_a_clear_error_naming_the_token_not_its_value(azure_repos, repo):
    name, _ = repo
    forge = AzureReposForge(azure_repos.url, "not-a-token-of-ours", name)
    with pytest.raises(ForgeError, match=r"HTTP 401.*System\.AccessToken") as info:
        forge.open_prs("main")
    assert "not-a-token-of-ours" not in str(info.value)


def test_the_factory_builds_it_from_a_pipeline_s_variables(azure_repos):
    env = {
        "GITOPS_REMOTE": "/srv/gitops.git",
        "BOT_FORGE": "azure-repos",
        "SYSTEM_COLLECTIONURI": azure_repos.url + "/",
        "SYSTEM_TEAMPROJECT": "modelops",
        "BUILD_REPOSITORY_NAME": "gitops",
        "SYSTEM_ACCESSTOKEN": AZURE_REPOS_TEST_TOKEN,
    }
    settings = Settings.from_env(env)
    assert (settings.repository, settings.forge_api_url) == ("modelops/gitops", azure_repos.url)
    assert AZURE_REPOS_TEST_TOKEN in settings.secrets()
    forge = make_forge(settings)
    assert isinstance(forge, AzureReposForge)
    assert forge.identity() is None
    told = Settings.from_env({**env, "AZURE_REPOS_BOT_IDENTITY": AZURE_REPOS_BOT})
    assert make_forge(told).identity() == AZURE_REPOS_BOT
    assert (forge.name, forge.wiql_team, forge.reviewers_required) == (
        "Azure Repos",
        "modelops Team",
        True,
    )


def test_identity_and_entra_token_sources():
    assert identity_url("https://dev.azure.com/contoso") == "https://vssps.dev.azure.com/contoso"
    assert identity_url("https://contoso.visualstudio.com") == (
        "https://contoso.vssps.visualstudio.com"
    )
    assert identity_url("http://127.0.0.1:8080/lw") == "http://127.0.0.1:8080/lw"

    calls: list[str] = []

    class Credential:  # azure-identity's protocol; no Entra ID can be reached from here
        def get_token(self, scope: str) -> object:
            calls.append(scope)
            return type("T", (), {"token": f"entra-{len(calls)}", "expires_on": 0})()

    source = entra_token_source(Credential())
    assert source() == "entra-1"
    assert source() == "entra-2"  # expired (expires_on 0): renewed
    assert calls == ["499b84ac-1321-427f-aa17-267ca6975798/.default"] * 2


def test_git_gets_the_bearer_token_as_a_header_for_an_https_remote_never_in_the_url(
    tmp_path: Path,
):
    remote = "https://dev.azure.com/contoso/modelops/_git/gitops"
    env = {
        "GITOPS_REMOTE": remote,
        "BOT_FORGE": "azure-repos",
        "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
        "SYSTEM_TEAMPROJECT": "modelops",
        "BUILD_REPOSITORY_NAME": "gitops",
        "SYSTEM_ACCESSTOKEN": "job-token",
    }
    target = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.x", "GIT_CONFIG_VALUE_0": "1"}
    assert install_git_bearer_header(Settings.from_env(env), target)
    assert target["GIT_CONFIG_COUNT"] == "3"  # after what was there
    # git itself reads it: the header for that origin only, the reset first
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    found = subprocess.run(
        ["git", "config", "--get-urlmatch", "http.extraHeader", remote],
        cwd=repo,
        env={**os.environ, **target},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found == "Authorization: Bearer job-token"
    assert all("job-token" not in v for k, v in target.items() if k.startswith("GIT_CONFIG_KEY"))
    entra = {**env, "AZURE_REPOS_AUTH": "entra", "SYSTEM_ACCESSTOKEN": ""}
    minted = git_header_env(Settings.from_env(entra), {}, entra=lambda: lambda: "entra-token")
    assert minted["GIT_CONFIG_VALUE_1"] == "Authorization: Bearer entra-token"
    for other in (
        {**env, "GITOPS_REMOTE": "/srv/gitops.git"},
        {**env, "BOT_FORGE": "github", "GITHUB_REPOSITORY": "a/b", "GITHUB_TOKEN": "t"},
    ):
        assert git_header_env(Settings.from_env(other), {}) == {}


def test_a_throttled_post_is_repeated_after_retry_after_not_duplicated(azure_repos, repo):
    name, _ = repo
    forge = _forge(azure_repos, name)
    pr = _open(forge)
    azure_repos.inject("status", status=429, method="POST", path="/threads$", retry_after=0)
    since = azure_repos.last_seq()
    forge.comment(pr.number, "once")
    posts = [w["status"] for w in azure_repos.writes(since)]
    assert posts == [429, 200]  # a 429 was not applied: repeating it cannot duplicate
    assert [c.body for c in forge.comments(pr.number)] == ["once"]


def test_a_long_body_is_shortened_keeping_its_marker_and_listings_read_it_whole(azure_repos, repo):
    name, _ = repo
    forge = _forge(azure_repos, name)
    marker = '<!-- promotion-bot: {"env": "dev"} -->\n'
    body = "| row |\n" * 900 + "\n\n" + marker  # 7200 characters of evidence, then the marker
    pr = forge.create_pr(title="promote(dev)", body=body, head="promote/dev", base="main")
    assert len(pr.body) <= 4000
    assert pr.body.endswith(marker)
    assert "shortened to the 4000 characters" in pr.body
    assert fit_description(pr.body) == pr.body
    # the listing cuts descriptions at 400 characters: the adapter reads a long one again
    assert forge.open_prs("main")["promote/dev"].body == pr.body
    found = forge.find_open_pr("promote/dev", "main")
    assert found is not None and found.body.endswith(marker)
    forge.update_pr(pr.number, title="promote(dev)", body=body.replace("row", "new"))
    assert forge.get_pr(pr.number).body.endswith(marker)
    forge.close_pr(pr.number, "no")
    assert forge.closed_prs("promote/dev", "main")[0].body.endswith(marker)
    assert fit_description("short") == "short"


def test_a_queued_completion_is_waited_for(azure_repos, repo):
    name, _ = repo
    forge = AzureReposForge(
        azure_repos.url, AZURE_REPOS_TEST_TOKEN, name, completion_wait=5, completion_poll=0.01
    )
    pr = _open(forge)
    azure_repos.inject("queued", method="PATCH", path="/pullrequests/")
    since = azure_repos.last_seq()
    merged = forge.merge_pr(pr.number, sha=pr.head_sha)
    assert git(azure_repos.remote_path(name), "rev-parse", "main").strip() == merged
    calls = [r["operation"] for r in azure_repos.requests(since)]
    assert calls == ["Pull Requests_Update", "Pull Requests_Get Pull Request"]

    impatient = AzureReposForge(
        azure_repos.url, AZURE_REPOS_TEST_TOKEN, name, completion_wait=0, completion_poll=0
    )
    git_dir = azure_repos.remote_path(name)
    git(git_dir, "branch", "-f", "promote/dev", merged)  # a new head to propose again
    other = impatient.create_pr(title="again", body="b", head="promote/dev", base="main")
    # nothing to merge is still a completion; queued and not waited for: said, not failed
    azure_repos.inject("queued", method="PATCH", path="/pullrequests/")
    with pytest.raises(ForgeError, match="still queued after 0 s"):
        impatient.merge_pr(other.number, sha=other.head_sha)
    assert impatient.get_pr(other.number).merged  # the queued job ran at the next read


_BOX = "- [ ] <!-- promotion-bot:dashboard hold staging --> hold **staging**"


@pytest.mark.parametrize(
    "saved",
    [
        # the bot's own form: the markdown escaped in one <pre>
        "<pre>intro\n" + html.escape(_BOX.replace("[ ]", "[x]"), quote=False) + "\n</pre>",
        # the web editor after a tick: one <div> a line, &nbsp; for leading spaces, <br>
        "<div>intro</div><div>"
        + html.escape(_BOX.replace("[ ]", "[x]"), quote=False)
        + "</div><div><br></div>",
        "<pre>intro<br>"
        + html.escape(_BOX.replace("[ ]", "[X]"), quote=False)
        + "<br></pre><div><br></div>",
        '<div style="">intro<br>&nbsp;'
        + html.escape(_BOX.replace("[ ]", "[x]"), quote=False).replace(
            "**staging**", "<b>staging</b>"
        )
        + "</div>",
    ],
)
def test_a_tick_saved_as_the_web_editors_html_is_read(saved: str):
    """Azure Boards' rich-text editor rewrites the bot's `<pre>` as it saves (mocked here: the
    local Azure Repos stores what it is sent; these are the shapes the editor writes)."""
    from bot import dashboard

    body = _markdown(saved)
    assert dashboard.ticked(body, ["staging"]) == [dashboard.Ask("hold", "staging")]
    assert body.splitlines()[0] == "intro"
