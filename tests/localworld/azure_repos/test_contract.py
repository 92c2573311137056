"""The local Azure Repos against Microsoft's published specifications (checked in, 7.1).

Every exchange of every test using the `azure_repos` fixture is validated at teardown
(tests/conftest.py); these tests pin the contract itself: the files are the published ones,
every served route is a described operation, and the checker refuses what Azure DevOps could
not send.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import requests

import localworld.azure_repos
from localworld.azure_repos import LocalAzureRepos
from localworld.azure_repos.contract import SPEC_DIR, SPEC_FILES, Contract
from localworld.azure_repos.web import ROUTES
from tests.conftest import AZURE_REPOS_TEST_TOKEN, git


def test_the_checked_in_specifications_are_the_published_files():
    table = (SPEC_DIR / "SOURCE.md").read_text()
    for name in SPEC_FILES.values():
        digest = hashlib.sha256((SPEC_DIR / name).read_bytes()).hexdigest()
        assert re.search(rf"`{re.escape(name)}` .* `{digest}`", table), name


def test_every_served_route_is_a_described_operation(azure_repos_spec: Contract):
    assert azure_repos_spec.check_served() == []
    assert len(ROUTES) >= 15


def test_no_server_module_is_over_450_lines():
    package = Path(localworld.azure_repos.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in package.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 450} == {}


def _repo(azure_repos: LocalAzureRepos, tmp_path: Path) -> str:
    name = f"modelops/c{tmp_path.name[-8:].replace('_', '')}"
    remote = azure_repos.create_repo(name)
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "f").write_text("1\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "first")
    git(work, "push", "-q", str(remote), "main", "main:promote/dev")
    return name


def _call(
    azure_repos: LocalAzureRepos, method: str, path: str, params: dict[str, str] | None = None
) -> requests.Response:
    headers = {"Authorization": f"Bearer {AZURE_REPOS_TEST_TOKEN}"}
    url = azure_repos.url + path
    return requests.request(method, url, headers=headers, params=params, timeout=10)


def test_errors_have_azure_devops_shape_and_a_pat_is_refused(
    azure_repos: LocalAzureRepos, tmp_path: Path
):
    name = _repo(azure_repos, tmp_path)
    project, repo = name.split("/")
    base = f"/{project}/_apis/git/repositories/{repo}"
    missing = _call(
        azure_repos, "GET", f"{base}/pullrequests/999999", params={"api-version": "7.1"}
    )
    assert missing.status_code == 404
    assert missing.json()["typeKey"] == "GitPullRequestNotFoundException"
    no_version = _call(azure_repos, "GET", f"{base}/pullrequests")
    assert no_version.status_code == 400
    assert "api-version=7.1" in no_version.json()["message"]
    pat = requests.get(
        azure_repos.url + f"{base}/pullrequests",
        params={"api-version": "7.1"},
        auth=("", AZURE_REPOS_TEST_TOKEN),  # a PAT, by Basic auth: the bot never sends one
        timeout=10,
    )
    assert pat.status_code == 401
    assert pat.headers["WWW-Authenticate"] == "Bearer"


def test_the_checker_refuses_what_azure_devops_could_not_send(azure_repos_spec: Contract):
    entry = {
        "method": "GET",
        "path": "/lw/p/_apis/git/repositories/r/pullrequests",
        "query": "api-version=7.1&searchCriteria.status=active&state=open",
        "status": 200,
        "spec": "git",
        "operation": "Pull Requests_Get Pull Requests",
        "request_body": None,
        "response_body": {"count": 1, "value": [{"pullRequestId": 1, "head_sha": "abc"}]},
    }
    problems = azure_repos_spec.check(entry)
    assert any("['state'] not documented" in p for p in problems)
    assert any("'head_sha' was unexpected" in p for p in problems)  # objects are closed
    bare_list = {**entry, "query": "api-version=7.1", "response_body": [{"pullRequestId": 1}]}
    assert any("is not of type 'object'" in p for p in azure_repos_spec.check(bare_list))
    created = {
        **entry,
        "method": "POST",
        "status": 201,
        "operation": "Pull Requests_Create",
        "query": "api-version=7.1",
        "response_body": {"pullRequestId": 1},
    }
    assert any("documents only 200" in p for p in azure_repos_spec.check(created))
    error = {**entry, "status": 409, "response_body": {"message": "conflict"}}
    assert any("(error)" in p for p in azure_repos_spec.check(error))


@pytest.mark.parametrize("kind", ["status", "slow"])
def test_faults_and_the_request_log(azure_repos: LocalAzureRepos, tmp_path: Path, kind: str):
    name = _repo(azure_repos, tmp_path)
    project, repo = name.split("/")
    path = f"/{project}/_apis/git/repositories/{repo}/pullrequests"
    azure_repos.inject(kind, status=503, delay=0.05, path="/pullrequests$", retry_after=1)
    since = azure_repos.last_seq()
    first = _call(azure_repos, "GET", path, params={"api-version": "7.1"})
    second = _call(azure_repos, "GET", path, params={"api-version": "7.1"})
    assert (first.status_code, second.status_code) == ((503 if kind == "status" else 200), 200)
    logged = azure_repos.requests(since)
    assert [r["fault"] for r in logged] == ["status:503" if kind == "status" else "slow", None]
    assert logged[0]["operation"] == "Pull Requests_Get Pull Requests"
    assert azure_repos.writes(since) == []
