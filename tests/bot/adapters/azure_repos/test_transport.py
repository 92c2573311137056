"""The HTTP transport: retries, throttles, the bearer token and its sources
(`bot.adapters.azure_repos.transport`)."""

from __future__ import annotations

import pytest

from bot.adapters.azure_repos import (
    AzureReposForge,
    entra_token_source,
    identity_url,
)
from bot.forge import ForgeError
from tests.bot.adapters.azure_repos.conftest import forge_on, open_pr


def test_reads_are_retried_through_a_throttle(azure_repos, repo):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    azure_repos.inject(
        "status", status=429, method="GET", path="/pullrequests$", times=2, retry_after=0
    )
    assert forge.open_prs("main") == {}


def test_bad_token_is_a_clear_error_naming_the_token_not_its_value(azure_repos, repo):
    name, _ = repo
    forge = AzureReposForge(azure_repos.url, "not-a-token-of-ours", name)
    with pytest.raises(ForgeError, match=r"HTTP 401.*System\.AccessToken") as info:
        forge.open_prs("main")
    assert "not-a-token-of-ours" not in str(info.value)


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


def test_a_throttled_post_is_repeated_after_retry_after_not_duplicated(azure_repos, repo):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    pr = open_pr(forge)
    azure_repos.inject("status", status=429, method="POST", path="/threads$", retry_after=0)
    since = azure_repos.last_seq()
    forge.comment(pr.number, "once")
    posts = [w["status"] for w in azure_repos.writes(since)]
    assert posts == [429, 200]  # a 429 was not applied: repeating it cannot duplicate
    assert [c.body for c in forge.comments(pr.number)] == ["once"]
