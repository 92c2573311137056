"""Errors of the local GitHub server (configuration, git plumbing, contract checks)."""

from localworld.errors import LocalWorldError


class GitHubServerError(LocalWorldError):
    """Base class for failures of the local GitHub server itself (not HTTP answers)."""


class GitCommandError(GitHubServerError):
    """A git subprocess failed unexpectedly; carries the command and its stderr."""

    def __init__(self, args: list[str], stderr: str) -> None:
        self.args_list = args
        self.stderr = stderr
        super().__init__(f"git {' '.join(args)} failed: {stderr.strip()}")


class BadTokenSpecError(GitHubServerError):
    """A `--token` value is not `TOKEN:REPO[,REPO...]` or `TOKEN:LOGIN:REPO[,REPO...]`."""


class ContractError(GitHubServerError):
    """The OpenAPI description could not be loaded or lacks an operation we serve."""


class BadTeamSpecError(GitHubServerError):
    """A `--team` value (or a seeded team) is not `ORG/SLUG[:LOGIN,...]`."""


class BadAppSpecError(GitHubServerError):
    """A `--app` value (or a registered app) is not `APP_ID:SLUG:PUBLIC_KEY_FILE:OWNER/REPO,...`,
    its key is not an RSA public key, or its permissions are not `{name: read|write}`."""
