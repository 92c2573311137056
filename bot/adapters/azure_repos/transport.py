"""Azure DevOps' REST API over plain `requests`: the bearer token on every request, bounded
retries that never repeat a POST blindly, and every failure as a one-line `ForgeError`.

`Transport` is the base of each part of the forge (`bot.adapters.azure_repos.forge`): they share
its session and its error mapping.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.util.retry import Retry

from bot.forge import ForgeConflictError, ForgeError, ForgeUnreachableError, http_date, newer

API_VERSION = "7.1"
# Azure DevOps' resource id: what an Entra token must be issued for.
AZURE_DEVOPS_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"
_SHA = re.compile(r"[0-9a-f]{40}")

TokenSource = Callable[[], str]


class _NoBlindPostRetry(Retry):
    """Reads and idempotent writes are retried on 429/5xx; a POST only on 429 (not applied)."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST":
            return status_code == 429 and self.total is not None and self.total > 0
        return super().is_retry(method, status_code, has_retry_after)


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: TokenSource) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token()}"
        return r


def entra_token_source(credential: Any | None = None) -> TokenSource:
    """Entra tokens for Azure DevOps from `azure-identity` (workload identity, managed
    identity, `az login`), renewed five minutes before they expire."""
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    cached: list[Any] = []

    def token() -> str:
        if not cached or cached[0].expires_on - 300 < time.time():
            cached[:] = [credential.get_token(AZURE_DEVOPS_SCOPE)]
        return str(cached[0].token)

    return token


def identity_url(api_url: str) -> str:
    """Where identities are searched: `https://vssps.dev.azure.com/<org>` for
    `https://dev.azure.com/<org>`; `<org>.vssps.visualstudio.com` for `<org>.visualstudio.com`;
    the API URL itself elsewhere (the local stand-in serves both)."""
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if host == "dev.azure.com":
        return api_url.replace("://dev.azure.com", "://vssps.dev.azure.com", 1)
    if host.endswith(".visualstudio.com") and ".vssps." not in host:
        return api_url.replace(".visualstudio.com", ".vssps.visualstudio.com", 1)
    return api_url


def is_sha(ref: str) -> bool:
    """A full commit id (what Azure DevOps takes as `versionType: commit`)."""
    return _SHA.fullmatch(ref) is not None


def creator(identity: Any) -> str | None:
    """Who wrote something (a status, a work item): the identity's unique name (its id when it
    has none)."""
    if not isinstance(identity, dict):
        return None
    return str(identity.get("uniqueName") or identity.get("id") or "") or None


class Transport:
    """The HTTP session to the organization at `api_url`, for repository `project/name`."""

    def __init__(
        self,
        api_url: str,
        token: str | TokenSource,
        repository: str,
        *,
        retries: int,
        backoff_factor: float,
        timeout: float,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self.project, _, self.repo_name = repository.partition("/")
        self.timeout = timeout
        retry = _NoBlindPostRetry(
            total=retries,
            connect=retries,
            read=0,  # a read timeout may follow an applied write: not repeated blindly
            backoff_factor=backoff_factor,
            status_forcelist=[429, *range(500, 600)],
            allowed_methods=frozenset({"GET", "PUT", "PATCH", "DELETE", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(max_retries=retry)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self._http.auth = _Bearer(token if callable(token) else (lambda: token))
        self._http.headers["Accept"] = "application/json"
        self._date: datetime | None = None  # the forge's clock, `server_time`

    def _repo_url(self, path: str) -> str:
        project, repo = quote(self.project, safe=""), quote(self.repo_name, safe="")
        return f"{self.api_url}/{project}/_apis/git/repositories/{repo}{path}"

    def _call(
        self,
        what: str,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        version: str = API_VERSION,
        content_type: str = "application/json",
    ) -> Any:
        query = {**(params or {}), "api-version": version}
        headers = {"Content-Type": content_type} if json is not None else {}
        try:
            resp = self._http.request(
                method, url, params=query, json=json, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ForgeUnreachableError(
                f"{what} on {self.repository} failed: Azure DevOps unreachable "
                f"({type(exc).__name__})"
            ) from exc
        self._date = newer(self._date, http_date(resp.headers.get("Date")))
        if resp.status_code >= 400:
            raise self._error(what, resp)
        return resp.json() if resp.content else None

    def server_time(self) -> datetime | None:
        """The newest `Date` header of any response (`bot.forge.Forge.server_time`)."""
        return self._date

    def _error(self, what: str, resp: requests.Response) -> ForgeError:
        try:
            message = str(resp.json().get("message") or resp.reason)
        except ValueError:
            message = resp.reason or ""
        if resp.status_code in (401, 403):
            message += (
                " (the token: System.AccessToken mapped into the bot's env, or an Entra "
                "identity with access to the project)"
            )
        kind = ForgeConflictError if resp.status_code == 409 else ForgeError
        text = f"{what} on {self.repository} failed: HTTP {resp.status_code}: {message}"
        return kind(text, resp.status_code)

    def _values(self, what: str, method: str, url: str, **kwargs: Any) -> list[Any]:
        body = self._call(what, method, url, **kwargs)
        return list(body.get("value") or []) if isinstance(body, dict) else []

    def _paged(self, what: str, url: str, params: dict[str, Any], size: int = 100) -> Iterator[Any]:
        skip = 0
        while True:
            page = self._values(what, "GET", url, params={**params, "$top": size, "$skip": skip})
            yield from page
            if len(page) < size:
                return
            skip += size
