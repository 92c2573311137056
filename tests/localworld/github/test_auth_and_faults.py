"""Token auth, rate limits and injected faults, as PyGithub and a raw HTTP client see them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from github import (
    BadCredentialsException,
    GithubException,
    GithubRetry,
    RateLimitExceededException,
    UnknownObjectException,
)
from github.Repository import Repository

from localworld.github import LocalGitHub, start_github
from tests.localworld.github.conftest import Checkout, client


def test_requests_without_a_valid_token_get_401(github: LocalGitHub, checkout: Checkout):
    url = f"{github.url}/repos/{checkout.full_name}"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert missing.json()["message"] == "Requires authentication"
    bad = requests.get(url, headers={"Authorization": "token nope"}, timeout=5)
    assert (bad.status_code, bad.json()["message"]) == (401, "Bad credentials")
    with pytest.raises(BadCredentialsException):
        client(github, token="nope").get_repo(checkout.full_name)


def test_bearer_and_token_schemes_are_both_accepted(github: LocalGitHub, checkout: Checkout):
    for scheme in ("token", "Bearer"):
        resp = requests.get(
            f"{github.url}/repos/{checkout.full_name}",
            headers={"Authorization": f"{scheme} {github.token}"},
            timeout=5,
        )
        assert resp.status_code == 200
        assert resp.json()["full_name"] == checkout.full_name


def test_a_token_sees_only_its_repositories(github: LocalGitHub, checkout: Checkout):
    github.add_token("narrow-token", ["localworld/somewhere-else"], login="narrow")
    narrow = client(github, token="narrow-token")
    with pytest.raises(UnknownObjectException):
        narrow.get_repo(checkout.full_name)
    assert narrow.get_user().login == "narrow"
    with pytest.raises(UnknownObjectException):
        client(github).get_repo("localworld/does-not-exist")


def test_server_errors_reach_the_client_and_a_retry_recovers(github: LocalGitHub, repo: Repository):
    github.inject("status", status=502, path="/pulls$", times=1)
    with pytest.raises(GithubException) as err:
        list(repo.get_pulls())
    assert err.value.status == 502
    github.inject("status", status=500, path="/pulls$", times=2)
    retrying = client(github, retry=GithubRetry(total=3, backoff_factor=0.01))
    since = github.last_seq()
    assert list(retrying.get_repo(repo.full_name).get_pulls()) == []
    statuses = [r["status"] for r in github.requests(since) if r["path"].endswith("/pulls")]
    assert statuses == [500, 500, 200]


def test_429_carries_retry_after(github: LocalGitHub, checkout: Checkout):
    github.inject("status", status=429, retry_after=7, path="^/repos/")
    resp = requests.get(
        f"{github.url}/repos/{checkout.full_name}",
        headers={"Authorization": f"token {github.token}"},
        timeout=5,
    )
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "7"
    assert github.requests(github.last_seq() - 1)[0]["fault"] == "status:429"


def test_secondary_rate_limit_is_a_403_with_retry_after_that_pyGithub_honours(
    github: LocalGitHub, repo: Repository
):
    github.inject("secondary_rate_limit", retry_after=1, method="POST", path="/labels$")
    with pytest.raises(RateLimitExceededException) as err:
        repo.create_label("blocked", "ff0000")
    assert err.value.status == 403
    assert (err.value.headers or {})["retry-after"] == "1"
    assert "secondary rate limit" in err.value.data["message"]

    github.inject("secondary_rate_limit", retry_after=1, method="POST", path="/labels$")
    retrying = client(github, retry=GithubRetry(total=2, backoff_factor=0.01))
    started = time.monotonic()
    retrying.get_repo(repo.full_name).create_label("after-wait", "00ff00")
    assert time.monotonic() - started >= 1.0
    assert [lab.name for lab in repo.get_labels()] == ["after-wait"]


def test_primary_rate_limit_fault_reports_zero_remaining_and_a_reset(
    github: LocalGitHub, repo: Repository
):
    github.inject("rate_limit", reset_in=30, path="/branches$")
    before = int(time.time())
    with pytest.raises(RateLimitExceededException) as err:
        list(repo.get_branches())
    headers = err.value.headers or {}
    assert err.value.status == 403
    assert headers["x-ratelimit-remaining"] == "0"
    assert before + 29 <= int(headers["x-ratelimit-reset"]) <= before + 31
    assert [b.name for b in repo.get_branches()] == ["main"]  # one request only


def test_the_primary_rate_limit_is_really_counted(tmp_path: Path):
    server = start_github(tmp_path / "repos", tmp_path / "logs", ["t:o/r"], rate_limit=3)
    try:
        headers = {"Authorization": "token t"}
        seen = [requests.get(f"{server.url}/user", headers=headers, timeout=5) for _ in range(4)]
        assert [r.status_code for r in seen] == [200, 200, 200, 403]
        assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0", "0"]
        limits = requests.get(f"{server.url}/rate_limit", headers=headers, timeout=5).json()
        assert limits["resources"]["core"]["remaining"] == 0
    finally:
        server.process.stop()


def test_slow_responses_are_slow(github: LocalGitHub, checkout: Checkout):
    github.inject("slow", delay=0.4, path="^/user$")
    url, headers = f"{github.url}/user", {"Authorization": f"token {github.token}"}
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(url, headers=headers, timeout=0.15)
    time.sleep(0.3)  # let the server finish the slow answer before reading the log
    github.inject("slow", delay=0.3, path="^/user$")
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    durations = [r["duration_ms"] for r in github.requests(github.last_seq() - 2)]
    assert all(d >= 300 for d in durations)


def test_bad_fault_specs_are_refused(github: LocalGitHub):
    resp = requests.post(f"{github.url}/_localworld/faults", json={"kind": "gremlins"}, timeout=5)
    assert resp.status_code == 422
    assert github.faults() == []
