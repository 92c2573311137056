"""Commit statuses: created, listed and combined as GitHub does, posted the way the GitOps
controllers that confirm deployments post them."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from github import GithubException
from github.Repository import Repository

from localworld.github import LocalGitHub
from tests.conftest import git
from tests.localworld.github.conftest import Checkout

# Flux notification-controller, internal/notifier/github.go (`Post`) with util.go: the status
# context is `generateCommitStatusID` = lower("<Kind>/<name>/<first block of the Provider UID>"),
# the description `formatNameAndDescription` = the event reason split at case changes and
# lower-cased, the state "success" for info events and "failure" for error events; before
# posting it lists the commit's statuses (`ListStatuses`, per_page 50) and skips a post whose
# context's latest status has the same state and description. No target_url is sent. The shipped
# Provider (deploy/gitops/flux/notification-provider.yaml) sets `commitStatusExpr` to the same
# shape with the Alert's `cluster` in place of the UID block.
FLUX_CONTEXT = "kustomization/modelops-dev/aks-modelops"

# Argo CD Notifications, argoproj/notifications-engine pkg/services/github.go (`Send`) with the
# `github.status` template of docs/services/github.md: context = the template's label
# "continuous-delivery/{{.app.metadata.name}}", target_url
# "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true", description =
# the notification message truncated to 140 characters (`trunc`, "..." at the end); a 422 is
# taken to mean "too many statuses for this sha and context".
ARGO_CONTEXT = "continuous-delivery/modelops-staging"
ARGO_TARGET = "https://argocd.example.com/applications/modelops-staging?operation=true"


class Api:
    """Raw REST calls, shaped exactly as the controllers' Go clients send them."""

    def __init__(self, github: LocalGitHub, full_name: str) -> None:
        self.base = f"{github.url}/repos/{full_name}"
        self.headers = {"Authorization": f"token {github.token}"}

    def post(self, path: str, body: object) -> requests.Response:
        return requests.post(f"{self.base}{path}", json=body, headers=self.headers, timeout=10)

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(f"{self.base}{path}", params=params, headers=self.headers, timeout=10)


@pytest.fixture
def api(github: LocalGitHub, checkout: Checkout) -> Api:
    return Api(github, checkout.full_name)


def flux_post(api: Api, sha: str, reason_words: str, severity: str) -> bool:
    """What Flux's GitHub notifier does for one Kustomization event; True when it posted."""
    state = {"info": "success", "error": "failure"}[severity]
    listed = api.get(f"/commits/{sha}/statuses", per_page=50)
    assert listed.status_code == 200
    for status in listed.json():
        if status["context"] == FLUX_CONTEXT:
            if (status["state"], status["description"]) == (state, reason_words):
                return False
            break
    body = {"state": state, "description": reason_words, "context": FLUX_CONTEXT}
    created = api.post(f"/statuses/{sha}", body)
    assert created.status_code == 201, created.text
    return True


def argo_post(api: Api, sha: str, state: str, message: str) -> requests.Response:
    description = message if len(message) <= 140 else message[:137] + "..."
    body = {
        "state": state,
        "description": description,
        "context": ARGO_CONTEXT,
        "target_url": ARGO_TARGET,
    }
    return api.post(f"/statuses/{sha}", body)


def test_flux_statuses_are_listed_newest_first_and_duplicates_are_skipped(
    api: Api, checkout: Checkout, github: LocalGitHub
):
    sha = checkout.remote_sha("main")
    assert flux_post(api, sha, "reconciliation succeeded", "info")
    assert not flux_post(api, sha, "reconciliation succeeded", "info")  # Flux's duplicate check
    assert flux_post(api, sha, "health check failed", "error")
    listed = api.get(f"/commits/{sha}/statuses").json()
    assert [(s["state"], s["description"], s["context"]) for s in listed] == [
        ("failure", "health check failed", FLUX_CONTEXT),
        ("success", "reconciliation succeeded", FLUX_CONTEXT),
    ]
    first = listed[1]
    assert first["creator"]["login"] == github.login
    assert first["target_url"] is None
    assert first["url"].endswith(f"/repos/{checkout.full_name}/statuses/{sha}")
    assert listed[0]["id"] > first["id"]
    assert first["created_at"] <= listed[0]["created_at"]


def test_argo_cd_status_with_a_truncated_message_and_its_target_url(api: Api, checkout: Checkout):
    sha = checkout.remote_sha("main")
    message = (
        "Application modelops-staging is now running new version of deployments manifests. " * 3
    )
    created = argo_post(api, sha, "success", message)
    assert created.status_code == 201, created.text
    data = created.json()
    assert len(data["description"]) == 140 and data["description"].endswith("...")
    assert (data["context"], data["target_url"], data["state"]) == (
        ARGO_CONTEXT,
        ARGO_TARGET,
        "success",
    )
    assert created.headers["Location"] == data["url"]
    combined = api.get(f"/commits/{sha}/status").json()
    assert (combined["state"], combined["total_count"], combined["sha"]) == ("success", 1, sha)
    assert combined["statuses"][0]["target_url"] == ARGO_TARGET


def test_combined_state_takes_the_latest_status_of_each_context(api: Api, checkout: Checkout):
    sha = checkout.remote_sha("main")
    assert api.get(f"/commits/{sha}/status").json()["state"] == "pending"  # no statuses yet
    steps = [
        ({"state": "success", "context": FLUX_CONTEXT}, "success"),
        ({"state": "pending", "context": ARGO_CONTEXT}, "pending"),
        ({"state": "success", "context": ARGO_CONTEXT.upper()}, "success"),  # case-insensitive
        ({"state": "failure", "context": FLUX_CONTEXT}, "failure"),
        ({"state": "success", "context": FLUX_CONTEXT}, "success"),  # a newer success wins
        ({"state": "error"}, "failure"),  # context "default"
        ({"state": "pending", "context": "default"}, "pending"),
    ]
    for body, expected in steps:
        assert api.post(f"/statuses/{sha}", body).status_code == 201
        combined = api.get(f"/commits/{sha}/status").json()
        assert combined["state"] == expected, body
    assert combined["total_count"] == 3
    assert [s["context"] for s in combined["statuses"]] == [
        "default",
        FLUX_CONTEXT,
        ARGO_CONTEXT.upper(),
    ]
    assert len(api.get(f"/commits/{sha}/statuses").json()) == 7


def test_a_ref_may_be_a_sha_a_branch_or_a_tag(api: Api, checkout: Checkout, repo: Repository):
    sha = checkout.remote_sha("main")
    git(checkout.path, "tag", "-a", "v1", "-m", "v1")
    git(checkout.path, "push", "-q", "origin", "v1")
    api.post(f"/statuses/{sha}", {"state": "success", "context": FLUX_CONTEXT})
    for ref in (sha, sha[:12], "main", "heads/main", "v1", "tags/v1"):
        combined = api.get(f"/commits/{ref}/status")
        assert (combined.status_code, combined.json()["sha"]) == (200, sha), ref
        assert len(api.get(f"/commits/{ref}/statuses").json()) == 1, ref
    missing = api.get("/commits/no-such-branch/status")
    assert (missing.status_code, missing.json()["message"]) == (
        404,
        "No commit found for SHA: no-such-branch",
    )
    assert api.get("/commits/no-such-branch/statuses").json() == []
    assert api.get("/commits/main~1/statuses").json() == []  # names only, no revision syntax


def test_create_refuses_what_github_refuses(api: Api, checkout: Checkout):
    sha = checkout.remote_sha("main")
    cases: list[tuple[object, str | None, str]] = [
        ({"state": "done"}, "state", "state is not included in the list"),
        ({}, "state", "state is not included in the list"),
        ({"state": "success", "description": "x" * 141}, "description", "description is too long"),
        ({"state": "success", "target_url": "ftp://x"}, "target_url", "must use http(s) scheme"),
        ({"state": "success", "context": 5}, "context", "context is invalid"),
    ]
    for body, field, message in cases:
        refused = api.post(f"/statuses/{sha}", body)
        assert refused.status_code == 422, body
        error = refused.json()["errors"][0]
        assert (error["resource"], error["code"], error["field"]) == ("Status", "custom", field)
        assert message in error["message"]
    unknown = api.post(f"/statuses/{'0' * 40}", {"state": "success"})
    assert (unknown.status_code, unknown.json()["message"]) == (
        422,
        f"No commit found for SHA: {'0' * 40}",
    )
    assert api.post("/statuses/main", {"state": "success"}).status_code == 422
    not_json = requests.post(
        f"{api.base}/statuses/{sha}", data="{", headers=api.headers, timeout=10
    )
    assert not_json.status_code == 400
    assert api.get(f"/commits/{sha}/statuses").json() == []  # nothing half-written


def test_context_defaults_to_default_and_blank_fields_to_null(api: Api, checkout: Checkout):
    sha = checkout.remote_sha("main")
    created = api.post(
        f"/statuses/{sha}", {"state": "pending", "target_url": "", "description": None}
    )
    data = created.json()
    assert (data["context"], data["target_url"], data["description"]) == ("default", None, None)
    exactly = api.post(f"/statuses/{sha}", {"state": "pending", "description": "é" * 140})
    assert exactly.status_code == 201  # 140 characters, not bytes


def test_statuses_and_combined_statuses_are_paginated(api: Api, checkout: Checkout):
    sha = checkout.remote_sha("main")
    for n in range(35):
        body = {"state": "success", "context": f"ctx-{n % 12}", "description": str(n)}
        assert api.post(f"/statuses/{sha}", body).status_code == 201
    first = api.get(f"/commits/{sha}/statuses")
    assert len(first.json()) == 30 and 'rel="next"' in first.headers["Link"]
    assert first.json()[0]["description"] == "34"
    last = api.get(f"/commits/{sha}/statuses", per_page=10, page=4)
    assert [s["description"] for s in last.json()] == ["4", "3", "2", "1", "0"]
    combined = api.get(f"/commits/{sha}/status", per_page=5, page=3)
    data = combined.json()
    assert (data["total_count"], len(data["statuses"])) == (12, 2)
    assert 'rel="prev"' in combined.headers["Link"]
    page_one = api.get(f"/commits/{sha}/status", per_page=5).json()
    assert [s["description"] for s in page_one["statuses"]] == ["34", "33", "32", "31", "30"]


def test_pygithub_creates_lists_and_combines_statuses(
    repo: Repository, checkout: Checkout, github: LocalGitHub
):
    sha = checkout.remote_sha("main")
    since = github.last_seq()
    commit = repo.get_commit(sha)
    commit.create_status("success", description="reconciliation succeeded", context=FLUX_CONTEXT)
    commit.create_status("failure", target_url=ARGO_TARGET, context=ARGO_CONTEXT)
    statuses = list(commit.get_statuses())  # PyGithub calls the legacy /statuses/{sha} route
    assert [(s.state, s.context) for s in statuses] == [
        ("failure", ARGO_CONTEXT),
        ("success", FLUX_CONTEXT),
    ]
    combined = commit.get_combined_status()
    assert (combined.state, combined.total_count, combined.sha) == ("failure", 2, sha)
    assert commit.commit.message == "initial"
    assert [f.filename for f in commit.files] == ["deploy/overlays/dev/kustomization.yaml"]
    operations = [e["operation"] for e in github.requests(since)]
    assert operations == [
        "repos/get-commit",  # PyGithub completes the lazy Commit to read its sha
        "repos/create-commit-status",
        "repos/create-commit-status",
        "repos/list-commit-statuses-for-ref",
        "repos/get-combined-status-for-ref",
    ]
    with pytest.raises(GithubException) as err:
        commit.create_status("bogus")
    assert err.value.status == 422
    assert commit.get_check_runs().totalCount == 0  # no GitHub Apps here, so no check runs


def test_the_server_clock_can_be_moved_for_timestamps_in_the_future(
    api: Api, checkout: Checkout, github: LocalGitHub
):
    sha = checkout.remote_sha("main")
    before = api.post(f"/statuses/{sha}", {"state": "success"}).json()["created_at"]
    try:
        moved = github.set_clock_offset(2 * 86400)
        later = api.post(f"/statuses/{sha}", {"state": "success"}).json()["created_at"]
    finally:
        github.set_clock_offset(0)
    assert later == moved or later > moved
    assert later[:10] > before[:10]
    assert (
        api.post(f"/statuses/{sha}", {"state": "success"}).json()["created_at"][:10] == before[:10]
    )


def test_a_failing_or_pending_status_on_the_head_makes_a_pr_unstable(
    api: Api, checkout: Checkout, repo: Repository
):
    checkout.start_branch("promote/dev")
    head = checkout.commit("promote/dev", {"x": "x\n"}, "x")
    checkout.push("promote/dev")
    pr = repo.create_pull(base="main", head="promote/dev", title="t")
    assert pr.mergeable_state == "clean"  # no statuses at all
    for state, mergeable_state in [
        ("pending", "unstable"),
        ("success", "clean"),
        ("failure", "unstable"),
    ]:
        api.post(f"/statuses/{head}", {"state": state, "context": "promotion/freeze"})
        fresh = repo.get_pull(pr.number)
        assert (fresh.mergeable, fresh.mergeable_state) == (True, mergeable_state), state
