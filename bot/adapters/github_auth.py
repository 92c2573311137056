"""How the bot authenticates to GitHub: a personal access token (the default), or a GitHub App.

A GitHub App is used when `GITHUB_APP_ID` is set:

    GITHUB_APP_ID                the app's id
    GITHUB_APP_INSTALLATION_ID   its installation on the GitOps repository's owner (optional:
                                 found with `GET /repos/{owner}/{repo}/installation` otherwise)
    GITHUB_APP_PRIVATE_KEY       the app's private key, PEM text (e.g. filled from Key Vault)
    GITHUB_APP_PRIVATE_KEY_FILE  or the path of the PEM file (exactly one of the two)

The API then sees short-lived installation tokens (PyGithub's `Auth.AppInstallationAuth`), each
replaced `REFRESH_BEFORE` seconds before it expires, so a long run never sends an expired one.
The first token is fetched when the auth is built, so a wrong key, app id or installation is
a `GitHubAppAuthError` (a settings error, exit 2) before anything is read or written.

Git gets an installation token from a credential helper (`git_credential_env`), never in a
URL: git runs `python -m bot.adapters.github_auth git-credential ...` for the remote's https
origin, which mints a fresh token each time git asks and prints it to git alone. The helper's
command line names where the key is (an environment variable or a file), never the key.
The private key is never logged: it is kept out of `repr` and out of every message.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, GithubException, GithubIntegration
from github.InstallationAuthorization import InstallationAuthorization

from bot.adapters.git import git_config_env
from bot.forge import ForgeUnreachableError
from bot.settings import Settings, SettingsError

Clock = Callable[[], float]

APP_ID = "GITHUB_APP_ID"
INSTALLATION_ID = "GITHUB_APP_INSTALLATION_ID"
PRIVATE_KEY = "GITHUB_APP_PRIVATE_KEY"
PRIVATE_KEY_FILE = "GITHUB_APP_PRIVATE_KEY_FILE"
# Renew an installation token (valid one hour) this long before it expires: a request never
# carries a token that expires on the way, even with the clocks a little apart.
REFRESH_BEFORE = 300
# The JWT: `iat` backdated for clock skew, `exp` well inside GitHub's ten minutes.
JWT_BACKDATE = 60
JWT_LIFETIME = 300
GIT_USERNAME = "x-access-token"  # what GitHub expects as the user of an installation token


class GitHubAppAuthError(SettingsError):
    """The GitHub App settings are wrong, or GitHub refused the app (its key, id or
    installation): a configuration error."""


@dataclass(frozen=True)
class AppSettings:
    """A GitHub App's settings; `key_source` says where the key came from (for messages and
    the credential helper), the key itself stays out of `repr`."""

    app_id: int
    private_key: str = field(repr=False)
    key_source: str  # "env:GITHUB_APP_PRIVATE_KEY" or "file:/path/key.pem"
    installation_id: int | None = None


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) == 0:
        raise GitHubAppAuthError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def check_private_key(pem: str, source: str) -> str:
    """`pem` when it is an RSA private key in PEM; else an error naming `source`, not the key."""
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise GitHubAppAuthError(
            f"{source}: not a PEM private key without a passphrase (GitHub's app keys are "
            "RSA PEM files)"
        ) from exc
    if not isinstance(key, RSAPrivateKey):
        raise GitHubAppAuthError(f"{source}: the key is not RSA (GitHub Apps sign RS256)")
    return pem


def read_key(source: str, env: Mapping[str, str]) -> str:
    """The PEM a `key_source` names: `env:NAME` or `file:PATH`."""
    kind, _, where = source.partition(":")
    if kind == "env":
        pem = env.get(where, "")
        if not pem.strip():
            raise GitHubAppAuthError(f"{where} is empty")
        return check_private_key(pem, where)
    try:
        pem = Path(where).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) else "not text"
        raise GitHubAppAuthError(f"{PRIVATE_KEY_FILE}: cannot read {where}: {detail}") from exc
    return check_private_key(pem, where)


def app_settings(env: Mapping[str, str]) -> AppSettings | None:
    """The GitHub App settings in `env`, or None when `GITHUB_APP_ID` is not set (PAT auth)."""
    app_id = _positive_int(env, APP_ID)
    if app_id is None:
        return None
    has_key, has_file = bool(env.get(PRIVATE_KEY, "").strip()), bool(env.get(PRIVATE_KEY_FILE))
    if has_key == has_file:
        raise GitHubAppAuthError(
            f"{APP_ID} is set: set exactly one of {PRIVATE_KEY} (the PEM text) and "
            f"{PRIVATE_KEY_FILE} (its path)"
        )
    source = f"env:{PRIVATE_KEY}" if has_key else f"file:{env[PRIVATE_KEY_FILE]}"
    return AppSettings(app_id, read_key(source, env), source, _positive_int(env, INSTALLATION_ID))


class ClockedAppAuth(Auth.AppAuth):
    """PyGithub's app auth, its JWTs dated by `clock` (the system clock unless a test moves
    it): `iat` now - 60 s, `exp` now + 300 s, `iss` the app id."""

    def __init__(self, app_id: int, private_key: str, clock: Clock = time.time) -> None:
        super().__init__(app_id, private_key)
        self._key = private_key
        self._clock = clock

    def create_jwt(self, expiration: int | None = None) -> str:
        now = int(self._clock())
        claims = {
            "iat": now - JWT_BACKDATE,
            "exp": now + (expiration or JWT_LIFETIME),
            "iss": str(self.app_id),
        }
        return jwt.encode(claims, self._key, algorithm="RS256")


class RefreshingInstallationAuth(Auth.AppInstallationAuth):
    """PyGithub's installation auth that renews its token `REFRESH_BEFORE` seconds before it
    expires by `clock` (PyGithub's own margin is 20 s), starting from the token `first`."""

    def __init__(
        self,
        app_auth: ClockedAppAuth,
        installation_id: int,
        first: InstallationAuthorization,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(app_auth, installation_id)
        self.jwt_auth = app_auth  # what `GET /app` (the app's own slug) authenticates with
        self._current = first
        self._clock = clock
        self.minted = 1  # tokens fetched so far (the first one included)

    @property
    def token(self) -> str:
        if self._clock() >= self._current.expires_at.timestamp() - REFRESH_BEFORE:
            self._current = self._get_installation_authorization()
            self.minted += 1
        return self._current.token


def _integration(app: AppSettings, api_url: str, clock: Clock) -> GithubIntegration:
    return GithubIntegration(
        auth=ClockedAppAuth(app.app_id, app.private_key, clock),
        base_url=api_url.rstrip("/"),
        retry=3,
        timeout=15,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def _refused(app: AppSettings, what: str, exc: GithubException) -> GitHubAppAuthError:
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.status)
    hint = {
        401: f"check {APP_ID} and that the private key ({app.key_source}) is this app's",
        404: "is the app installed on the repository's owner, with access to it?",
    }.get(exc.status, "")
    return GitHubAppAuthError(
        f"GitHub App {app.app_id}: {what} refused (HTTP {exc.status}: {message})"
        + (f"; {hint}" if hint else "")
    )


def installation_token(
    app: AppSettings, api_url: str, repository: str, clock: Clock = time.time
) -> tuple[int, InstallationAuthorization]:
    """The installation id (given, or found from `repository`) and a fresh token for it."""
    integration = _integration(app, api_url, clock)
    owner, _, name = repository.partition("/")
    step = "finding its installation on " + repository
    try:
        installation_id = app.installation_id
        if installation_id is None:
            installation_id = integration.get_repo_installation(owner, name).id
        step = f"an installation token (installation {installation_id})"
        return installation_id, integration.get_access_token(installation_id)
    except GithubException as exc:
        raise _refused(app, step, exc) from exc
    except requests.RequestException as exc:
        raise ForgeUnreachableError(
            f"GitHub App {app.app_id}: {step} failed: GitHub unreachable ({type(exc).__name__})"
        ) from exc
    finally:
        integration.close()


def forge_auth(settings: Settings, clock: Clock = time.time) -> Auth.Auth:
    """PyGithub's auth for `settings`: the app's refreshing installation auth when
    `GITHUB_APP_ID` is set, else the token (`SettingsError` without one)."""
    app = app_settings(settings.environ)
    if app is None:
        return Auth.Token(settings.require_token())
    installation_id, first = installation_token(
        app, settings.forge_api_url, settings.repository, clock
    )
    app_auth = ClockedAppAuth(app.app_id, app.private_key, clock)
    return RefreshingInstallationAuth(app_auth, installation_id, first, clock)


# --- git: a credential helper that mints a fresh installation token each time git asks -------


def _https_origin(remote: str) -> str | None:
    parts = urlsplit(remote)
    if parts.scheme != "https" or not parts.hostname:
        return None
    return f"https://{parts.netloc}"


def git_credential_env(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment entries that make git ask the helper for the GitOps remote's https
    origin (added after the `GIT_CONFIG_COUNT` entries `environ` already has; helpers set
    before for that origin are reset). Empty without a GitHub App, or for a remote that is not
    https (an ssh remote uses its own key; a path needs nothing)."""
    app = app_settings(settings.environ)
    origin = _https_origin(settings.gitops_remote)
    if app is None or origin is None:
        return {}
    argv = [
        sys.executable,
        "-m",
        "bot.adapters.github_auth",
        "git-credential",
        "--api-url",
        settings.forge_api_url,
        "--app-id",
        str(app.app_id),
        "--key",
        app.key_source,
    ]
    argv += (
        ["--installation-id", str(app.installation_id)]
        if app.installation_id is not None
        else ["--repository", settings.repository]
    )
    helper = "!" + shlex.join(argv)
    key = f"credential.{origin}.helper"
    return git_config_env(environ, [(key, ""), (key, helper)])


def install_git_credential_helper(
    settings: Settings, environ: MutableMapping[str, str] | None = None
) -> bool:
    """Give git (every git this process runs) the credential helper; True when installed."""
    target = os.environ if environ is None else environ
    entries = git_credential_env(settings, target)
    if entries and PRIVATE_KEY in settings.environ and PRIVATE_KEY not in target:
        entries[PRIVATE_KEY] = settings.environ[PRIVATE_KEY]  # the helper reads it from there
    target.update(entries)
    return bool(entries)


def credential_answer(token: str) -> str:
    """What a credential helper prints for `get` (git's credential protocol)."""
    return f"username={GIT_USERNAME}\npassword={token}\n"


def _helper_main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.adapters.github_auth git-credential")
    parser.add_argument("command", choices=["git-credential"])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--app-id", type=int, required=True)
    parser.add_argument("--key", required=True, help="env:NAME or file:PATH")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--installation-id", type=int)
    where.add_argument("--repository")
    parser.add_argument("action", help="get, store or erase (git's credential protocol)")
    args = parser.parse_args(argv)
    if args.action != "get":
        return 0  # nothing is stored: every `get` mints a fresh token
    sys.stdin.read()  # the attributes git sends (protocol, host): the helper's scope is config
    try:
        app = AppSettings(args.app_id, read_key(args.key, env), args.key, args.installation_id)
        _, token = installation_token(app, args.api_url, args.repository or "")
    except (SettingsError, ForgeUnreachableError) as exc:
        print(f"promotion-bot credential helper: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(credential_answer(token.token))
    return 0


if __name__ == "__main__":
    raise SystemExit(_helper_main(sys.argv[1:], os.environ))
