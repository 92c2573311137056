"""GitHub Apps as the server knows them: registered apps (id, slug, RSA public key), their
installations, the RS256 JWT an app authenticates with, and the permissions an installation
token carries. Pure rules over plain data; `state.py` keeps the records, `app.py` applies them.

JWT rules, as GitHub documents and answers them (every refusal is a 401):
- signed RS256 by the app's key, `iss` the app id (integer, or the id as a string) or its
  client id; anything undecodable or wrongly signed → `A JSON web token could not be decoded`;
- `iat` an integer at most 60 s after the server's now (clock skew);
- `exp` after the server's now, and at most 10 minutes after it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from localworld.github.errors import BadAppSpecError

CLOCK_SKEW_SECONDS = 60
MAX_JWT_LIFETIME_SECONDS = 600
TOKEN_LIFETIME_SECONDS = 3600
LEVELS = ("read", "write")
# What a GitHub App for the promotion bot is granted (bot/README.md says why each).
DEFAULT_PERMISSIONS: Mapping[str, str] = {
    "checks": "read",  # automerge waits for the PR head's check runs
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}

UNDECODABLE = "A JSON web token could not be decoded"
BAD_ISSUER = "'Issuer' claim ('iss') must be an Integer"
BAD_IAT = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"  # noqa: E501
EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)
TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
NOT_ACCESSIBLE = "Resource not accessible by integration"


class JWTRefusedError(Exception):
    """GitHub's 401 for an app's JWT; `str()` is GitHub's message."""


@dataclass(frozen=True)
class App:
    id: int
    slug: str
    owner: str
    public_key: str = field(repr=False)  # PEM
    permissions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    name: str = ""

    @property
    def client_id(self) -> str:
        return f"Iv23li{self.id:014d}"

    @property
    def bot_login(self) -> str:
        """The login of what the app's installation tokens write as (`slug[bot]`)."""
        return f"{self.slug}[bot]"


@dataclass(frozen=True)
class Installation:
    id: int
    app_id: int
    account: str  # the owner (organization or user) it is installed on
    repos: tuple[str, ...]  # fnmatch patterns over "owner/name" (`owner/*`: all of them)
    permissions: Mapping[str, str]

    def covers(self, full_name: str) -> bool:
        name = full_name.lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.repos)

    @property
    def repository_selection(self) -> str:
        return "all" if any(p.endswith("/*") for p in self.repos) else "selected"


@dataclass
class AppRegistry:
    """The registered apps and their installations (guarded by the server state's lock)."""

    apps: dict[int, App] = field(default_factory=dict)
    installations: dict[int, Installation] = field(default_factory=dict)

    def register(self, app: App, repos: tuple[str, ...], installation_id: int) -> Installation:
        """Register `app` (replacing one with its id) and install it on `repos` (patterns over
        owner/name, all of one owner) with the app's permissions."""
        self.apps[app.id] = app
        account = repos[0].split("/", 1)[0]
        installation = Installation(installation_id, app.id, account, repos, dict(app.permissions))
        self.installations[installation.id] = installation
        return installation

    def installation_of(self, app: App, full_name: str) -> Installation | None:
        """The installation of `app` that covers the repository `full_name`."""
        for installation in self.installations.values():
            if installation.app_id == app.id and installation.covers(full_name):
                return installation
        return None

    def installation(self, app: App, installation_id: int) -> Installation | None:
        """Installation `installation_id` when it is one of `app`'s."""
        found = self.installations.get(installation_id)
        return found if found is not None and found.app_id == app.id else None


def check_permissions(permissions: object, what: str = "permissions") -> dict[str, str]:
    """`{name: read|write}`, or BadAppSpecError naming what is wrong."""
    if not isinstance(permissions, Mapping) or not all(
        isinstance(k, str) and v in LEVELS for k, v in permissions.items()
    ):
        raise BadAppSpecError(f"{what} must be an object of name: read|write")
    return dict(permissions)


_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._*-]+$")


def check_app(
    app_id: object,
    slug: object,
    public_key: object,
    repos: object,
    permissions: object = None,
) -> tuple[App, tuple[str, ...]]:
    """An app and the repositories (owner/name patterns, one owner) to install it on, from
    untrusted fields; BadAppSpecError says what is wrong."""
    if isinstance(app_id, bool) or not isinstance(app_id, int) or app_id <= 0:
        raise BadAppSpecError("app id must be a positive integer")
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise BadAppSpecError(f"app slug {slug!r} must be lower-case letters, digits and -")
    if not isinstance(public_key, str):
        raise BadAppSpecError("public_key must be a PEM text")
    try:
        key = load_pem_public_key(public_key.encode())
    except ValueError as exc:
        raise BadAppSpecError(f"app {app_id}: public_key is not a PEM public key") from exc
    if not isinstance(key, RSAPublicKey):
        raise BadAppSpecError(f"app {app_id}: public_key must be an RSA key (GitHub signs RS256)")
    if (
        not isinstance(repos, list | tuple)
        or not repos
        or not all(isinstance(r, str) and _REPO.match(r) for r in repos)
    ):
        raise BadAppSpecError("repos must be a non-empty list of OWNER/NAME (or OWNER/*)")
    if len({r.split("/", 1)[0].lower() for r in repos}) != 1:
        raise BadAppSpecError("an installation is on one owner: repos must share it")
    held = DEFAULT_PERMISSIONS if permissions is None else check_permissions(permissions)
    owner = repos[0].split("/", 1)[0]
    return App(app_id, slug, owner, public_key, dict(held)), tuple(repos)


def parse_app_spec(spec: str, read_key: Callable[[str], str]) -> tuple[App, tuple[str, ...]]:
    """`APP_ID:SLUG:PUBLIC_KEY_FILE:OWNER/REPO[,...]` (the `--app` flag); `read_key` reads the
    PEM file. The app gets the promotion bot's permissions (`DEFAULT_PERMISSIONS`)."""
    parts = spec.split(":")
    if len(parts) != 4 or not parts[0].isdigit():
        raise BadAppSpecError(
            f"bad app spec {spec!r}: expected APP_ID:SLUG:PUBLIC_KEY_FILE:OWNER/REPO[,...]"
        )
    try:
        pem = read_key(parts[2])
    except OSError as exc:
        raise BadAppSpecError(f"bad app spec {spec!r}: cannot read {parts[2]}: {exc}") from exc
    return check_app(int(parts[0]), parts[1], pem, [r for r in parts[3].split(",") if r])


def grants(held: Mapping[str, str], name: str, level: str) -> bool:
    """Whether permissions `held` include `name` at `level` (write includes read)."""
    have = held.get(name)
    return have == "write" or (have == "read" and level == "read")


def narrow(held: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str] | None:
    """The permissions a token asks for, when the installation holds them all (else None).
    An empty request means everything the installation holds, as on GitHub."""
    if not wanted:
        return dict(held)
    if all(grants(held, name, level) for name, level in wanted.items()):
        return dict(wanted)
    return None


def _app_for_issuer(iss: object, apps: Mapping[int, App]) -> App:
    if isinstance(iss, bool):
        raise JWTRefusedError(BAD_ISSUER)
    if isinstance(iss, str) and not iss.isdigit():
        by_client = [a for a in apps.values() if a.client_id == iss]
        if by_client:
            return by_client[0]
        raise JWTRefusedError(BAD_ISSUER)
    if not isinstance(iss, int | str):
        raise JWTRefusedError(BAD_ISSUER)
    app = apps.get(int(iss))
    if app is None:  # no key to check the signature with
        raise JWTRefusedError(UNDECODABLE)
    return app


def verify_jwt(token: str, apps: Mapping[int, App], now: float) -> App:
    """The app a JWT authenticates, judged at `now` (the server's clock); JWTRefusedError else."""
    try:
        header = jwt.get_unverified_header(token)
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise JWTRefusedError(UNDECODABLE) from exc
    if header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise JWTRefusedError(UNDECODABLE)
    app = _app_for_issuer(claims.get("iss"), apps)
    try:
        jwt.decode(
            token,
            key=app.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise JWTRefusedError(UNDECODABLE) from exc
    iat, exp = claims.get("iat"), claims.get("exp")
    if isinstance(iat, bool) or not isinstance(iat, int) or iat > now + CLOCK_SKEW_SECONDS:
        raise JWTRefusedError(BAD_IAT)
    if isinstance(exp, bool) or not isinstance(exp, int | float) or exp <= now:
        raise JWTRefusedError(EXPIRED)
    if exp > now + MAX_JWT_LIFETIME_SECONDS:
        raise JWTRefusedError(TOO_FAR)
    return app


def looks_like_jwt(value: str) -> bool:
    """A compact JWS: three base64url parts, the first a JSON object (`eyJ`)."""
    return value.startswith("eyJ") and value.count(".") == 2


# What each served operation needs from an installation token: (permission, level) pairs, any
# one of which is enough. Issue-side operations work on pull requests too, so GitHub accepts
# either permission there. Operations not listed need only `metadata` (every token has it).
_CONTENTS_READ = (("contents", "read"),)
_CONTENTS_WRITE = (("contents", "write"),)
_PULLS_READ = (("pull_requests", "read"),)
_PULLS_WRITE = (("pull_requests", "write"),)
_ISSUES_READ = (("issues", "read"), ("pull_requests", "read"))
_ISSUES_WRITE = (("issues", "write"), ("pull_requests", "write"))
_STATUSES_READ = (("statuses", "read"),)
_STATUSES_WRITE = (("statuses", "write"),)

REQUIRED: Mapping[str, tuple[tuple[str, str], ...]] = {
    "repos/list-branches": _CONTENTS_READ,
    "repos/get-branch": _CONTENTS_READ,
    "git/get-ref": _CONTENTS_READ,
    "git/list-matching-refs": _CONTENTS_READ,
    "git/create-ref": _CONTENTS_WRITE,
    "git/update-ref": _CONTENTS_WRITE,
    "git/delete-ref": _CONTENTS_WRITE,
    "repos/compare-commits": _CONTENTS_READ,
    "repos/get-commit": _CONTENTS_READ,
    "pulls/list": _PULLS_READ,
    "pulls/get": _PULLS_READ,
    "pulls/check-if-merged": _PULLS_READ,
    "pulls/list-requested-reviewers": _PULLS_READ,
    "pulls/create": _PULLS_WRITE,
    "pulls/update": _PULLS_WRITE,
    "pulls/request-reviewers": _PULLS_WRITE,
    "pulls/remove-requested-reviewers": _PULLS_WRITE,
    "pulls/list-reviews": _PULLS_READ,
    "pulls/create-review": _PULLS_WRITE,
    "pulls/merge": _CONTENTS_WRITE,
    "issues/list-for-repo": (("issues", "read"),),
    "issues/create": (("issues", "write"),),
    "issues/get": _ISSUES_READ,
    "issues/update": _ISSUES_WRITE,
    "issues/list-comments": _ISSUES_READ,
    "issues/create-comment": _ISSUES_WRITE,
    "issues/list-labels-on-issue": _ISSUES_READ,
    "issues/add-labels": _ISSUES_WRITE,
    "issues/set-labels": _ISSUES_WRITE,
    "issues/remove-label": _ISSUES_WRITE,
    "issues/remove-all-labels": _ISSUES_WRITE,
    "issues/list-labels-for-repo": _ISSUES_READ,
    "issues/get-label": _ISSUES_READ,
    "issues/create-label": _ISSUES_WRITE,
    "repos/create-commit-status": _STATUSES_WRITE,
    "repos/list-commit-statuses-for-ref": _STATUSES_READ,
    "repos/get-combined-status-for-ref": _STATUSES_READ,
    "checks/list-for-ref": (("checks", "read"),),
    "teams/get-by-name": (("members", "read"),),
}
# What an installation token can never do (GitHub answers 403 "Resource not accessible by
# integration" on user-only routes).
USER_ONLY = frozenset({"users/get-authenticated"})


def allowed(operation: str | None, held: Mapping[str, str]) -> bool:
    """Whether a token holding `held` may call `operation`."""
    if operation in USER_ONLY:
        return False
    needed: Iterable[tuple[str, str]] = REQUIRED.get(operation or "", ())
    needed = tuple(needed)
    return not needed or any(grants(held, name, level) for name, level in needed)
