"""A small OCI distribution API client: tags, manifest digests, config labels.

Written on `requests` rather than a registry library: the bot needs exactly four calls, each
with bearer-challenge and basic auth, bounded retries (tenacity) on 429/5xx, digest
verification, platform selection in an index, typed errors and a request count (the benchmark
checks that calls grow with changes, not with tags); python-dxf and oras-py cover transfers
and would still need all of that around them.

Auth: an anonymous request that gets `401` with `WWW-Authenticate: Bearer realm=…,service=…,
scope=…` fetches a token from the realm (with basic credentials when given) and retries; a
`Basic` challenge is answered with the credentials. Tokens are cached per scope.
Credentials go to the registry's own origin only: a tags page whose `Link` points elsewhere
(or back to a page already read) ends the listing with an error instead of being followed;
`requests` drops the Authorization header itself on a redirect to another host.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
)

from bot.core.model import ImageCandidate
from bot.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    RegistryProtocolError,
    RegistryUnavailableError,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join(MANIFEST_TYPES)

_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }
    return scheme.lower(), params


def registry_url(host: str) -> str:
    """`https://host`, except plain HTTP for a loopback registry (the local world)."""
    if host.startswith(("http://", "https://")):
        return host.rstrip("/")
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    scheme = "http" if name in ("127.0.0.1", "localhost", "[::1]") else "https"
    return f"{scheme}://{host}"


class _TransientError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class RegistryClient:
    """Talks to one registry. `requests_made` counts every HTTP request sent (incl. auth)."""

    base_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    max_attempts: int = 4
    backoff: float = 0.2
    max_backoff: float = 5.0
    page_size: int = 100
    max_pages: int = 10_000  # a million tags at the default page size
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    requests_made: int = 0
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)
    _basic: bool = field(default=False, repr=False)

    @classmethod
    def for_host(
        cls, host: str, username: str | None = None, password: str | None = None, **kw: Any
    ) -> RegistryClient:
        return cls(registry_url(host), username=username, password=password, **kw)

    # ------------------------------------------------------------------ public API

    def list_tags(self, repository: str) -> list[str]:
        """Every tag of a repository, following `Link: <…>; rel="next"` pages.

        A next link is followed only on the registry's own origin (scheme, host and port: the
        credentials are for it alone), never back to a page already read, and for at most
        `max_pages` pages; anything else ends the listing with a `RegistryProtocolError`.
        """
        url: str | None = f"{self.base_url}/v2/{repository}/tags/list?n={self.page_size}"
        tags: list[str] = []
        read: set[str] = set()
        while url is not None:
            if len(read) >= self.max_pages:
                raise RegistryProtocolError(
                    f"{self.base_url}: tags of {repository} run to more than {self.max_pages} "
                    "pages; stopped there"
                )
            read.add(url)
            resp = self._request("GET", url, repository)
            tags.extend(self._json(resp, url).get("tags") or [])
            url = self._next_page(resp, url, read)
        return tags

    def _next_page(self, resp: requests.Response, url: str, read: set[str]) -> str | None:
        match = _LINK_NEXT.search(resp.headers.get("Link", ""))
        if match is None:
            return None
        # RFC 8288: a relative reference resolves against the URL of the page that sent it.
        target = urljoin(url, str(match.group(1)).strip())
        if _origin(target) != _origin(self.base_url):
            raise RegistryProtocolError(
                f"{url}: the next page link points to another host ({_origin(target)}); not "
                f"followed: credentials are only for {_origin(self.base_url)}"
            )
        if target in read:
            raise RegistryProtocolError(
                f"{url}: the next page link leads back to a page already read ({target}); "
                "the registry's paging loops"
            )
        return target

    def manifest_digest(self, repository: str, reference: str) -> str:
        """The digest of a tag's manifest (or index), by HEAD with the manifest media types."""
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        resp = self._request("HEAD", url, repository, headers={"Accept": ACCEPT})
        digest = resp.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        _, _, digest = self.get_manifest(repository, reference)
        return digest

    def get_manifest(self, repository: str, reference: str) -> tuple[dict[str, Any], str, str]:
        """(manifest JSON, media type, digest); a digest reference is verified against the body."""
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        resp = self._request("GET", url, repository, headers={"Accept": ACCEPT})
        computed = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        if reference.startswith("sha256:") and computed != reference:
            raise RegistryProtocolError(f"{url}: manifest digest is {computed}, not {reference}")
        header = resp.headers.get("Docker-Content-Digest")
        if header and header.startswith("sha256:") and header != computed:
            raise RegistryProtocolError(f"{url}: Docker-Content-Digest {header} != {computed}")
        manifest = self._json(resp, url)
        media_type = manifest.get("mediaType") or resp.headers.get("Content-Type", "")
        return manifest, str(media_type).split(";")[0].strip(), computed

    def config_labels(
        self, repository: str, reference: str, platform: tuple[str, str] = ("linux", "amd64")
    ) -> dict[str, str]:
        """The image config's labels (for an index, of the `platform` image)."""
        manifest, media_type, _ = self.get_manifest(repository, reference)
        if media_type in INDEX_TYPES or "manifests" in manifest:
            chosen = _pick_platform(manifest, platform)
            if chosen is None:
                raise RegistryNotFoundError(
                    f"{repository}:{reference}: no {platform[0]}/{platform[1]} image in the index"
                )
            manifest, _, _ = self.get_manifest(repository, chosen)
        config = manifest.get("config") or {}
        digest = config.get("digest")
        if not isinstance(digest, str):
            raise RegistryProtocolError(f"{repository}:{reference}: manifest has no config digest")
        blob = self.get_blob(repository, digest)
        try:
            data = json.loads(blob)
        except ValueError as exc:
            raise RegistryProtocolError(f"{repository}@{digest}: config is not JSON") from exc
        labels = (data.get("config") or {}).get("Labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    def get_blob(self, repository: str, digest: str) -> bytes:
        """A blob's bytes, verified against its sha256 digest."""
        url = f"{self.base_url}/v2/{repository}/blobs/{digest}"
        resp = self._request("GET", url, repository)
        computed = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        if digest.startswith("sha256:") and computed != digest:
            raise RegistryProtocolError(f"{url}: blob digest is {computed}, not {digest}")
        return resp.content

    def inspect(self, repository: str, tag: str, *, name: str) -> ImageCandidate:
        """A tag as a planning candidate: digest (pinned) plus config labels.

        `name` is the reference name the overlays pin (`<host>/<repository>`).
        """
        digest = self.manifest_digest(repository, tag)
        labels = self.config_labels(repository, digest)
        return ImageCandidate(name=name, tag=tag, digest=digest, labels=labels)

    # ------------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        url: str,
        repository: str,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return self._retrying(method, url, repository, dict(headers or {}))

    def _retrying(
        self, method: str, url: str, repository: str, headers: dict[str, str]
    ) -> requests.Response:
        caller = retry(
            retry=retry_if_exception_type(_TransientError),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            reraise=True,
        )(self._once)
        try:
            return caller(method, url, repository, headers)
        except _TransientError as exc:
            raise RegistryUnavailableError(
                f"{method} {url}: {exc} (gave up after {self.max_attempts} attempts)"
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_backoff)
        return float(min(self.backoff * 2 ** (state.attempt_number - 1), self.max_backoff))

    def _send(self, method: str, url: str, headers: dict[str, str]) -> requests.Response:
        self.requests_made += 1
        try:
            return self.session.request(
                method, url, headers=headers, timeout=self.timeout, allow_redirects=True
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _TransientError(f"connection failed: {type(exc).__name__}") from None

    def _once(
        self, method: str, url: str, repository: str, headers: dict[str, str]
    ) -> requests.Response:
        if _origin(url) != _origin(self.base_url):  # every URL is built from base_url
            raise RegistryProtocolError(f"{url}: not on {_origin(self.base_url)}; not requested")
        resp = self._send(method, url, {**headers, **self._auth_header(repository)})
        if resp.status_code == 401:
            self._answer_challenge(resp, url, repository)
            resp = self._send(method, url, {**headers, **self._auth_header(repository)})
            if resp.status_code == 401:
                raise RegistryAuthError(f"{method} {url}: credentials refused (401)")
        _raise_for_status(resp, method, url)
        return resp

    def _auth_header(self, repository: str) -> dict[str, str]:
        token = self._tokens.get(repository)
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self._basic and self.username is not None:
            auth = requests.auth._basic_auth_str(self.username, self.password or "")
            return {"Authorization": auth}
        return {}

    def _answer_challenge(self, resp: requests.Response, url: str, repository: str) -> None:
        header = resp.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(header)
        if scheme == "basic":
            if self.username is None:
                raise RegistryAuthError(f"{url}: registry wants basic auth and no credentials set")
            self._basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryAuthError(f"{url}: unsupported auth challenge {header!r}")
        query = {k: params[k] for k in ("service", "scope") if params.get(k)}
        auth = (self.username, self.password or "") if self.username is not None else None
        self.requests_made += 1
        try:
            token_resp = self.session.get(
                params["realm"], params=query, auth=auth, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _TransientError(f"token endpoint: {type(exc).__name__}") from None
        if token_resp.status_code in (401, 403):
            raise RegistryAuthError(f"{params['realm']}: token refused ({token_resp.status_code})")
        _raise_for_status(token_resp, "GET", params["realm"])
        data = self._json(token_resp, params["realm"])
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryAuthError(f"{params['realm']}: no token in the answer")
        self._tokens[repository] = token

    @staticmethod
    def _json(resp: requests.Response, url: str) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError:
            raise RegistryProtocolError(f"{url}: answer is not JSON") from None
        if not isinstance(data, dict):
            raise RegistryProtocolError(f"{url}: answer is not a JSON object")
        return data


def _origin(url: str) -> str:
    """`scheme://host:port` in lowercase, with the scheme's default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number
        port = None
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def _raise_for_status(resp: requests.Response, method: str, url: str) -> None:
    status = resp.status_code
    if status < 400:
        return
    if status == 429 or status >= 500:
        retry_after = _retry_after(resp.headers.get("Retry-After"))
        raise _TransientError(f"HTTP {status}", retry_after)
    detail = _error_codes(resp)
    if status == 404:
        raise RegistryNotFoundError(f"{method} {url}: not found{detail}")
    if status == 403:
        raise RegistryAuthError(f"{method} {url}: forbidden{detail}")
    raise RegistryError(f"{method} {url}: HTTP {status}{detail}")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_codes(resp: requests.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
    except (ValueError, AttributeError):
        return ""
    codes = [str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code")]
    return f" ({', '.join(codes)})" if codes else ""


def _pick_platform(index: dict[str, Any], platform: tuple[str, str]) -> str | None:
    for entry in index.get("manifests") or []:
        plat = entry.get("platform") or {}
        if (plat.get("os"), plat.get("architecture")) == platform:
            digest = entry.get("digest")
            return str(digest) if digest else None
    return None
