"""Commit statuses and compare on the local Azure Repos (`bot.adapters.azure_repos.statuses`)."""

from __future__ import annotations

import requests

from bot.forge import CommitStatus, StatusState
from localworld.azure_repos import LocalAzureRepos
from tests.bot.adapters.azure_repos.conftest import forge_on
from tests.conftest import AZURE_REPOS_BOT, AZURE_REPOS_TEST_TOKEN, git


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
    forge = forge_on(azure_repos, name)
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
