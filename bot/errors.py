"""One exception hierarchy for the promotion bot, mapped to exit codes at the CLI edge.

Every error carries a one-line message that names what was wrong and where (a file, a field,
an image, a registry URL), so the CLI can print it as is. Domain errors exit 1.
"""

from __future__ import annotations

# The core's errors live in the core (it imports nothing outside itself); re-exported here.
from bot.core.errors import BotError as BotError  # noqa: PLC0414 (explicit re-export)
from bot.core.errors import PolicyError as PolicyError  # noqa: PLC0414 (explicit re-export)


class OverlayError(BotError):
    """A kustomization file cannot be read or edited as asked; the message names the file."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.detail = message


class UnknownImageError(OverlayError):
    """An image name asked for is not among the file's `images:` entries."""

    def __init__(self, path: str, name: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none"
        super().__init__(path, f"no images entry named {name!r} (entries: {listed})")
        self.name = name


class UnknownGeneratorError(OverlayError):
    """A literal was asked for in a configMapGenerator/secretGenerator the file does not have."""

    def __init__(self, path: str, generator: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none"
        super().__init__(path, f"no configMapGenerator named {generator!r} (generators: {listed})")
        self.generator = generator


class SpecError(BotError):
    """An image spec or literal spec given by a user does not parse (a usage error: exit 2)."""


class RegistryError(BotError):
    """The OCI registry refused or failed a request; the message names the URL."""


class RegistryAuthError(RegistryError):
    """Credentials were refused, or the auth challenge could not be answered."""


class RegistryNotFoundError(RegistryError):
    """Repository, tag, manifest or blob does not exist."""


class RegistryUnavailableError(RegistryError):
    """Transient failures (429/5xx, connection errors) persisted after bounded retries."""


class RegistryProtocolError(RegistryError):
    """The registry answered something this client does not understand (bad JSON, no digest)."""
