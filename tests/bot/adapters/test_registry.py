"""The OCI client against the real local registry (anonymous, htpasswd basic auth, token auth)
and against tiny 127.0.0.1 HTTP servers for faults (429/5xx) the registry cannot be made to
produce."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bcrypt
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.adapters.registry import RegistryClient, parse_challenge, registry_url
from bot.core.model import SIGNATURE_LABEL
from bot.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    RegistryProtocolError,
    RegistryUnavailableError,
)
from localworld.process import LOOPBACK, ServiceProcess, free_port, tcp_open
from localworld.services import Registry, http_status, registry_binary, start_registry
from tests.oci import (
    OCI_INDEX,
    image_manifest,
    push_image,
    put_manifest,
)

SIG = "input:float32[?,64]"


def test_lists_all_tags_of_a_big_repository(registry: Registry):
    """Debian's registry (distribution 2.8) answers `n` with everything on one page; the
    Link-header paging is exercised against a scripted server below."""
    repo = "bot/paged"
    body = image_manifest(registry.url, repo, {SIGNATURE_LABEL: SIG})
    tags = [f"0.1.0-{n}-abc1234" for n in range(120)]
    for tag in tags:
        put_manifest(registry.url, repo, tag, body)
    client = RegistryClient(registry.url)
    assert sorted(client.list_tags(repo)) == sorted(tags)


def test_follows_link_header_pages(scripted):
    # the Link target of each page is relative, as the distribution spec allows
    url, seen = scripted(
        [
            (200, {"Link": '</v2/r/tags/list?n=2&last=b>; rel="next"'}, b'{"tags": ["a", "b"]}'),
            (200, {"Link": '</v2/r/tags/list?n=2&last=c>; rel="next"'}, b'{"tags": ["c"]}'),
            (200, {}, b'{"tags": null}'),
        ]
    )
    client = RegistryClient(url, page_size=2)
    assert client.list_tags("r") == ["a", "b", "c"]
    assert seen == [
        "GET /v2/r/tags/list?n=2",
        "GET /v2/r/tags/list?n=2&last=b",
        "GET /v2/r/tags/list?n=2&last=c",
    ]
    assert client.requests_made == 3


def test_inspect_returns_the_pushed_digest_and_labels(registry: Registry):
    repo = "bot/labels"
    labels = {SIGNATURE_LABEL: SIG, "org.opencontainers.image.revision": "abc1234"}
    digest = push_image(registry.url, repo, "0.1.0-1-abc1234", labels)
    client = RegistryClient.for_host(registry.host)
    image = client.inspect(repo, "0.1.0-1-abc1234", name=f"{registry.host}/{repo}")
    assert image.digest == digest
    assert image.input_signature == SIG
    assert image.revision == "abc1234"
    assert image.name == f"{registry.host}/{repo}"
    assert client.requests_made == 3  # HEAD manifest, GET manifest, GET config blob


def test_index_resolves_to_the_linux_amd64_labels(registry: Registry):
    repo = "bot/multiarch"
    amd = image_manifest(registry.url, repo, {SIGNATURE_LABEL: "amd"}, arch="amd64")
    arm = image_manifest(registry.url, repo, {SIGNATURE_LABEL: "arm"}, arch="arm64")
    amd_digest = put_manifest(registry.url, repo, "amd", amd)
    arm_digest = put_manifest(registry.url, repo, "arm", arm)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": d,
                    "size": len(b),
                    "platform": {"os": "linux", "architecture": a},
                }
                for d, b, a in ((arm_digest, arm, "arm64"), (amd_digest, amd, "amd64"))
            ],
        }
    ).encode()
    index_digest = put_manifest(registry.url, repo, "1.0.0", index, media_type=OCI_INDEX)
    client = RegistryClient(registry.url)
    assert client.manifest_digest(repo, "1.0.0") == index_digest
    assert client.config_labels(repo, "1.0.0") == {SIGNATURE_LABEL: "amd"}
    assert client.config_labels(repo, "1.0.0", ("linux", "arm64")) == {SIGNATURE_LABEL: "arm"}
    with pytest.raises(RegistryNotFoundError, match="no linux/s390x image in the index"):
        client.config_labels(repo, "1.0.0", ("linux", "s390x"))


def test_missing_things_raise_not_found_with_the_registry_code(registry: Registry):
    client = RegistryClient(registry.url)
    with pytest.raises(RegistryNotFoundError, match="NAME_UNKNOWN"):
        client.list_tags("bot/does-not-exist")
    push_image(registry.url, "bot/one", "1.0.0", {})
    with pytest.raises(RegistryNotFoundError, match=r"manifests/9\.9\.9: not found"):
        client.manifest_digest("bot/one", "9.9.9")
    with pytest.raises(RegistryNotFoundError):
        client.get_blob("bot/one", "sha256:" + "0" * 64)


# ------------------------------------------------------------------ basic auth (htpasswd)


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("basic-registry")
    htpasswd = root / "htpasswd"
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"bot:{hashed}\n")
    service = start_registry(root / "data", root / "logs", htpasswd=htpasswd)
    yield service
    service.process.stop()


def test_basic_auth_registry(basic_registry: Registry):
    auth = {"Authorization": "Basic " + base64.b64encode(b"bot:s3cret").decode()}
    digest = push_image(basic_registry.url, "bot/private", "1.0.0", {SIGNATURE_LABEL: SIG}, auth)
    client = RegistryClient(basic_registry.url, username="bot", password="s3cret")
    assert client.list_tags("bot/private") == ["1.0.0"]
    assert client.manifest_digest("bot/private", "1.0.0") == digest
    # the challenge is answered once, then credentials go with every request
    assert client.requests_made == 3
    with pytest.raises(RegistryAuthError, match="no credentials set"):
        RegistryClient(basic_registry.url).list_tags("bot/private")
    with pytest.raises(RegistryAuthError, match="credentials refused"):
        RegistryClient(basic_registry.url, username="bot", password="wrong").list_tags(
            "bot/private"
        )
    assert "s3cret" not in repr(client)


# ------------------------------------------------------------------ token auth (bearer)


class _TokenIssuer:
    """Our own token server for a registry configured with `auth: token` (distribution)."""

    def __init__(self, root: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localworld token issuer")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = root / "issuer.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[str] = []

    def token(self, scope: str, user: str = "bot") -> str:
        access = []
        if scope:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = {
            "iss": "localworld-issuer",
            "sub": user,
            "aud": "localworld-registry",
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        der = self.cert.public_bytes(serialization.Encoding.DER)
        return jwt.encode(
            claims, self.key, algorithm="ES256", headers={"x5c": [base64.b64encode(der).decode()]}
        )


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{LOOPBACK}:{server.server_address[1]}"


@pytest.fixture(scope="module")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Registry, _TokenIssuer]]:
    root = tmp_path_factory.mktemp("token-registry")
    issuer = _TokenIssuer(root)
    good = "Basic " + base64.b64encode(b"bot:t0ken-pass").decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            from urllib.parse import parse_qs, urlparse

            query = parse_qs(urlparse(self.path).query)
            issuer.requests.append(self.path)
            if self.headers.get("Authorization") != good:
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"token": issuer.token(query.get("scope", [""])[0])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server, realm = _serve(Handler)
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(root / "storage")}},
        "http": {"addr": f"{LOOPBACK}:{port}"},
        "auth": {
            "token": {
                "realm": f"{realm}/token",
                "service": "localworld-registry",
                "issuer": "localworld-issuer",
                "rootcertbundle": str(issuer.cert_path),
            }
        },
    }
    config_path = root / "config.yml"
    config_path.write_text(json.dumps(config))
    proc = ServiceProcess(
        name="registry-token",
        argv=[registry_binary(), "serve", str(config_path)],
        log_path=root / "registry.log",
        ready=lambda: tcp_open(port) and http_status(f"http://{LOOPBACK}:{port}/v2/") is not None,
    ).start()
    yield Registry(proc, port), issuer
    proc.stop()
    server.shutdown()
    server.server_close()


def test_bearer_token_challenge_against_a_token_auth_registry(
    token_registry: tuple[Registry, _TokenIssuer],
):
    registry, issuer = token_registry
    repo = "bot/tokened"
    push = {"Authorization": "Bearer " + issuer.token(f"repository:{repo}:pull,push")}
    digest = push_image(registry.url, repo, "1.0.0", {SIGNATURE_LABEL: SIG}, push)
    issuer.requests.clear()
    client = RegistryClient(registry.url, username="bot", password="t0ken-pass")
    image = client.inspect(repo, "1.0.0", name=f"{registry.host}/{repo}")
    assert image.digest == digest
    assert image.input_signature == SIG
    assert client.list_tags(repo) == ["1.0.0"]
    # one challenge, one token (cached for the repository), then authorised calls
    assert len(issuer.requests) == 1
    assert "service=localworld-registry" in issuer.requests[0]
    assert "scope=repository%3Abot%2Ftokened%3Apull" in issuer.requests[0]
    assert client.requests_made == 1 + 1 + 1 + 2 + 1  # 401, token, HEAD, GET x2, tags


def test_bearer_token_refused_is_an_auth_error(token_registry: tuple[Registry, _TokenIssuer]):
    registry, _ = token_registry
    client = RegistryClient(registry.url, username="bot", password="wrong")
    with pytest.raises(RegistryAuthError, match="token refused \\(401\\)"):
        client.list_tags("bot/tokened")


# ------------------------------------------------------------------ faults


def _scripted(
    responses: list[tuple[int, dict[str, str], bytes]],
) -> tuple[ThreadingHTTPServer, str, list[str]]:
    """A server answering each request with the next scripted response (the last repeats)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(f"{self.command} {self.path}")
            status, headers, body = responses[min(len(seen), len(responses)) - 1]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = _answer  # noqa: N815 (http.server method names)

        def log_message(self, *args: object) -> None:
            pass

    server, url = _serve(Handler)
    return server, url, seen


@pytest.fixture
def scripted() -> Iterator[Callable[..., tuple[str, list[str]]]]:
    servers: list[ThreadingHTTPServer] = []

    def make(responses: list[tuple[int, dict[str, str], bytes]]) -> tuple[str, list[str]]:
        server, url, seen = _scripted(responses)
        servers.append(server)
        return url, seen

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


TAGS = (200, {"Content-Type": "application/json"}, b'{"name": "r", "tags": ["1"]}')


def test_transient_errors_are_retried_with_backoff(scripted):
    url, seen = scripted([(503, {}, b""), (429, {"Retry-After": "0"}, b""), TAGS])
    client = RegistryClient(url, backoff=0.01)
    assert client.list_tags("r") == ["1"]
    assert len(seen) == 3


def test_persistent_errors_give_up_after_bounded_attempts(scripted):
    url, seen = scripted([(500, {}, b"")])
    client = RegistryClient(url, backoff=0.01, max_attempts=3)
    with pytest.raises(RegistryUnavailableError, match="HTTP 500 \\(gave up after 3 attempts\\)"):
        client.list_tags("r")
    assert len(seen) == 3


def test_connection_refused_is_unavailable():
    client = RegistryClient(f"http://{LOOPBACK}:{free_port()}", backoff=0.01, max_attempts=2)
    with pytest.raises(RegistryUnavailableError, match="connection failed"):
        client.list_tags("r")
    assert client.requests_made == 2


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        ((403, {}, b'{"errors": [{"code": "DENIED"}]}'), RegistryAuthError, "forbidden (DENIED)"),
        ((400, {}, b"nope"), RegistryError, "HTTP 400"),
        ((200, {}, b"not json"), RegistryProtocolError, "answer is not JSON"),
        ((200, {}, b"[1]"), RegistryProtocolError, "not a JSON object"),
        ((401, {"WWW-Authenticate": "Negotiate"}, b""), RegistryAuthError, "unsupported auth"),
    ],
)
def test_permanent_errors_are_typed(scripted, response, error, message):
    url, seen = scripted([response])
    with pytest.raises(error, match=message.replace("(", "\\(").replace(")", "\\)")):
        RegistryClient(url, username="u", password="p").list_tags("r")
    assert len(seen) == 1


def test_manifest_body_must_match_its_digest(scripted):
    body = b'{"schemaVersion": 2, "config": {"digest": "sha256:x"}}'
    url, _ = scripted([(200, {"Docker-Content-Digest": "sha256:" + "f" * 64}, body)])
    client = RegistryClient(url)
    with pytest.raises(RegistryProtocolError, match="Docker-Content-Digest"):
        client.get_manifest("r", "1.0")
    with pytest.raises(RegistryProtocolError, match="manifest digest is"):
        client.get_manifest("r", "sha256:" + "e" * 64)
    with pytest.raises(RegistryProtocolError, match="blob digest is"):
        client.get_blob("r", "sha256:" + "e" * 64)


def test_head_without_digest_header_falls_back_to_hashing_the_body(scripted):
    body = b'{"schemaVersion": 2}'
    url, seen = scripted([(200, {}, b""), (200, {}, body)])
    import hashlib

    assert RegistryClient(url).manifest_digest("r", "1") == (
        "sha256:" + hashlib.sha256(body).hexdigest()
    )
    assert seen == ["HEAD /v2/r/manifests/1", "GET /v2/r/manifests/1"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://acr.io/oauth2/token",service="acr.io",'
            'scope="repository:a/b:pull,push"',
            (
                "bearer",
                {
                    "realm": "https://acr.io/oauth2/token",
                    "service": "acr.io",
                    "scope": "repository:a/b:pull,push",
                },
            ),
        ),
        ('Basic realm="Registry Realm"', ("basic", {"realm": "Registry Realm"})),
        (
            "Bearer realm=http://x/token,service=x",
            ("bearer", {"realm": "http://x/token", "service": "x"}),
        ),
    ],
)
def test_parse_challenge(header: str, expected: tuple[str, dict[str, str]]):
    assert parse_challenge(header) == expected


def test_registry_url():
    assert registry_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert registry_url("localhost") == "http://localhost"
    assert registry_url("modelopsacr.azurecr.io") == "https://modelopsacr.azurecr.io"
    assert registry_url("https://r.example/") == "https://r.example"


# ------------------------------------------------------------------ hostile Link headers


class _LinkInjector:
    """A proxy on 127.0.0.1 in front of a real registry that adds a `Link: rel="next"` header
    (as a compromised or misbehaving registry or front end could) and records what it saw."""

    def __init__(self, upstream: str, link: Callable[[str, str], str]) -> None:
        self.seen: list[tuple[str, str | None]] = []
        injector = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                import urllib.error
                import urllib.request

                injector.seen.append((self.path, self.headers.get("Authorization")))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "accept")
                }
                request = urllib.request.Request(upstream + self.path, headers=headers)  # noqa: S310
                try:
                    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                        status, body, extra = resp.status, resp.read(), dict(resp.headers)
                except urllib.error.HTTPError as exc:
                    status, body, extra = exc.code, exc.read(), dict(exc.headers)
                self.send_response(status)
                for key, value in extra.items():
                    if key.lower() in ("content-type", "www-authenticate"):
                        self.send_header(key, value)
                if status == 200:
                    self.send_header("Link", f'<{link(injector.url, self.path)}>; rel="next"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server, self.url = _serve(Handler)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Recorder:
    """Another host (another port on loopback is another origin): records every request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.seen.append((self.path, self.headers.get("Authorization")))
                body = b'{"tags": ["planted"]}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server, self.url = _serve(Handler)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def private_repo(basic_registry: Registry) -> str:
    auth = {"Authorization": "Basic " + base64.b64encode(b"bot:s3cret").decode()}
    push_image(basic_registry.url, "bot/linked", "1.0.0", {SIGNATURE_LABEL: SIG}, auth)
    return "bot/linked"


@pytest.mark.parametrize("form", ["absolute", "scheme-relative"])
def test_credentials_never_follow_a_next_link_to_another_host(
    basic_registry: Registry, private_repo: str, form: str
) -> None:
    other = _Recorder()
    target = other.url if form == "absolute" else other.url.removeprefix("http:")
    proxy = _LinkInjector(basic_registry.url, lambda _me, path: f"{target}{path}&last=x")
    try:
        client = RegistryClient(proxy.url, username="bot", password="s3cret")
        with pytest.raises(RegistryProtocolError, match="another host") as caught:
            client.list_tags(private_repo)
        assert other.url.removeprefix("http://") in str(caught.value)
        assert other.seen == []  # not even an anonymous request
        assert any(auth for _path, auth in proxy.seen)  # the registry itself did get them
    finally:
        proxy.close()
        other.close()


@pytest.mark.timeout(30)
def test_a_next_link_back_to_a_page_already_read_stops_with_a_clear_error(
    basic_registry: Registry, private_repo: str
) -> None:
    proxy = _LinkInjector(basic_registry.url, lambda _me, path: path)  # "next" is this page
    try:
        client = RegistryClient(proxy.url, username="bot", password="s3cret")
        with pytest.raises(RegistryProtocolError, match="already read"):
            client.list_tags(private_repo)
        assert len([p for p, auth in proxy.seen if auth]) == 1
    finally:
        proxy.close()


def test_paging_stops_after_a_bounded_number_of_pages(scripted):
    # every page links to a new one: a registry that never ends must not keep the bot forever
    url, seen = scripted(
        [
            (200, {"Link": f'</v2/r/tags/list?n=1&last={i}>; rel="next"'}, b'{"tags": []}')
            for i in range(12)
        ]
    )
    client = RegistryClient(url, page_size=1, max_pages=5)
    with pytest.raises(RegistryProtocolError, match="more than 5 pages"):
        client.list_tags("r")
    assert len(seen) == 5
