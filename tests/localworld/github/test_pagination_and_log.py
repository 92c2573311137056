"""Link pagination, ETags, rate-limit headers and the request log tests count writes with."""

from __future__ import annotations

import re

import requests
from github.Repository import Repository

from localworld.github import LocalGitHub
from tests.localworld.github.conftest import Checkout, client


def test_lists_paginate_with_link_headers(
    github: LocalGitHub, checkout: Checkout, repo: Repository
):
    checkout.start_branch("promote/dev")
    checkout.commit("promote/dev", {"x": "x\n"}, "x")
    checkout.push("promote/dev")
    pr = repo.create_pull(base="main", head="promote/dev", title="t")
    for i in range(7):
        pr.create_issue_comment(f"comment {i}")
    url = f"{github.url}/repos/{checkout.full_name}/issues/{pr.number}/comments"
    auth = {"Authorization": f"token {github.token}"}
    first = requests.get(url, params={"per_page": 3}, headers=auth, timeout=5)
    assert [c["body"] for c in first.json()] == ["comment 0", "comment 1", "comment 2"]
    pattern = r'<([^>]+)>; rel="(\w+)"'
    links = {rel: href for href, rel in re.findall(pattern, first.headers["Link"])}
    assert set(links) == {"next", "last"}
    assert "page=3" in links["last"] and "per_page=3" in links["last"]
    last = requests.get(links["last"], headers=auth, timeout=5)
    assert [c["body"] for c in last.json()] == ["comment 6"]
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]

    since = github.last_seq()
    small_pages = client(github, per_page=2).get_repo(checkout.full_name)
    paged = small_pages.get_pull(pr.number).get_issue_comments()
    assert [c.body for c in paged] == [f"comment {i}" for i in range(7)]
    pages = [r["query"] for r in github.requests(since) if r["path"].endswith("/comments")]
    assert pages == ["per_page=2", *(f"page={n}&per_page=2" for n in (2, 3, 4))]
    assert paged.totalCount == 7


def test_compare_paginates_commits(github: LocalGitHub, checkout: Checkout, repo: Repository):
    checkout.start_branch("promote/dev")
    shas = [checkout.commit("promote/dev", {"f": f"{i}\n"}, f"c{i}") for i in range(5)]
    checkout.push("promote/dev")
    cmp = repo.compare("main", "promote/dev", comparison_commits_per_page=2)
    assert cmp.total_commits == 5
    assert [c.sha for c in cmp.commits] == shas


def test_etag_answers_304_without_counting(github: LocalGitHub, checkout: Checkout):
    url = f"{github.url}/repos/{checkout.full_name}/branches/main"
    auth = {"Authorization": f"token {github.token}"}
    first = requests.get(url, headers=auth, timeout=5)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    again = requests.get(url, headers={**auth, "If-None-Match": etag}, timeout=5)
    assert again.status_code == 304 and again.content == b""
    assert again.headers["X-RateLimit-Remaining"] == first.headers["X-RateLimit-Remaining"]
    checkout.commit("main", {"y": "y\n"}, "y")
    checkout.push("main")
    changed = requests.get(url, headers={**auth, "If-None-Match": etag}, timeout=5)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_every_answer_carries_rate_limit_headers(github: LocalGitHub, checkout: Checkout):
    auth = {"Authorization": f"token {github.token}"}
    one = requests.get(f"{github.url}/user", headers=auth, timeout=5)
    two = requests.get(f"{github.url}/repos/{checkout.full_name}/pulls/99", headers=auth, timeout=5)
    assert two.status_code == 404
    for resp in (one, two):
        assert resp.headers["X-RateLimit-Limit"] == "5000"
        assert int(resp.headers["X-RateLimit-Reset"]) > 0
        assert resp.headers["X-RateLimit-Resource"] == "core"
    assert (
        int(two.headers["X-RateLimit-Remaining"]) == int(one.headers["X-RateLimit-Remaining"]) - 1
    )


def test_a_read_only_run_logs_zero_writes(
    github: LocalGitHub, checkout: Checkout, repo: Repository
):
    since = github.last_seq()
    list(repo.get_pulls(state="open", head="localworld:promote/dev"))
    repo.get_branch("main")
    repo.compare("main", "main")
    calls = github.requests(since)
    assert [(c["method"], c["status"]) for c in calls] == [("GET", 200)] * 3
    assert calls[0]["operation"] == "pulls/list"
    assert github.writes(since) == []
    repo.create_label("promotion", "0e8a16")
    assert [(w["method"], w["path"]) for w in github.writes(since)] == [
        ("POST", f"/repos/{checkout.full_name}/labels")
    ]
