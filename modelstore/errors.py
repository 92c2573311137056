"""One exception hierarchy for the model store; each class builds its own one-line message.

The CLI maps a `ModelStoreError` to exit code 1 (bad input and configuration: 2) and prints
`str(error)`, so messages are written for a data scientist reading a terminal: what failed, for
which model, and what to do.
Messages never contain credentials (endpoints are shown without query strings).
"""

from __future__ import annotations

from typing import Any


class ModelStoreError(Exception):
    """Base class: every error the model store raises on purpose."""


# --- bad input ---------------------------------------------------------------------------------


class InvalidInputError(ModelStoreError):
    """The caller passed something the store refuses (nothing was written)."""


class InvalidNameError(InvalidInputError):
    def __init__(self, kind: str, value: str, rule: str) -> None:
        self.kind, self.value, self.rule = kind, value, rule
        super().__init__(f"invalid {kind} {value!r}: {rule}")


class InvalidReferenceError(InvalidInputError):
    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(
            f"invalid reference {ref!r}: use a version number (e.g. 3), 'latest' or '@alias'"
        )


class InvalidMetricError(InvalidInputError):
    def __init__(self, key: str, value: object, reason: str = "is not a finite number") -> None:
        self.key, self.value = key, value
        super().__init__(f"metric {key!r}={value!r} {reason}")


class InvalidTagError(InvalidInputError):
    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        super().__init__(f"tag {key!r} {reason}")


class InvalidModelFileError(InvalidInputError):
    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"cannot register {path}: {reason}")


class InvalidDatasetError(InvalidInputError):
    """A file is not an evaluation set in the documented `.npz` format (modelstore.datasets)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"cannot use {path} as an evaluation set: {reason}")


class TooManyEntriesError(InvalidInputError):
    def __init__(self, kind: str, count: int, limit: int) -> None:
        self.kind, self.count, self.limit = kind, count, limit
        super().__init__(f"{count} {kind} given: at most {limit} {kind} per version")


class ManifestTooLargeError(InvalidInputError):
    def __init__(self, name: str, size: int, limit: int) -> None:
        self.name, self.size, self.limit = name, size, limit
        super().__init__(
            f"the manifest of {name} would be {size} bytes, over the {limit}-byte limit that "
            "readers accept: register fewer or shorter files, tags, metrics or description"
        )


class ConfigurationError(ModelStoreError):
    """Settings are missing or contradictory (no connection string and no account URL, ...)."""


class DestinationError(ModelStoreError):
    """A verified download could not be put in place; the destination was left as it was."""

    def __init__(self, dest: str, reason: str) -> None:
        self.dest, self.reason = dest, reason
        super().__init__(f"cannot download into {dest}: {reason}; it was left as it was")


# --- not found ---------------------------------------------------------------------------------


class NotFoundError(ModelStoreError):
    """A model, version or alias does not exist."""


class ModelNotFoundError(NotFoundError):
    """No model (or, with `kind="dataset"`, no evaluation set) of that name."""

    def __init__(self, name: str, *, kind: str = "model") -> None:
        self.name, self.kind = name, kind
        command = "register" if kind == "model" else f"{kind} register"
        super().__init__(f"{kind} {name!r} not found (register a first version with `{command}`)")


class VersionNotFoundError(NotFoundError):
    def __init__(self, name: str, version: int, detail: str = "", *, kind: str = "model") -> None:
        self.name, self.version, self.kind = name, version, kind
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"version {version} of {kind} {name!r} not found{suffix}")


class AliasNotFoundError(NotFoundError):
    def __init__(
        self, name: str, alias: str, known: list[str] | None = None, *, kind: str = "model"
    ) -> None:
        self.name, self.alias, self.kind = name, alias, kind
        hint = f"; known aliases: {', '.join(known)}" if known else ""
        super().__init__(f"alias {alias!r} of {kind} {name!r} not found{hint}")


class NoLatestVersionError(NotFoundError):
    def __init__(self, name: str, *, kind: str = "model") -> None:
        self.name, self.kind = name, kind
        super().__init__(f"{kind} {name!r} has no version that is not archived")


# --- integrity ---------------------------------------------------------------------------------


class IntegrityError(ModelStoreError):
    """Stored bytes do not match what the manifest promises."""


class ChecksumMismatchError(IntegrityError):
    def __init__(  # noqa: PLR0917 - the message needs every part
        self, name: str, version: int, path: str, expected: str, actual: str, what: str = "sha256"
    ) -> None:
        self.name, self.version, self.path = name, version, path
        self.expected, self.actual = expected, actual
        super().__init__(
            f"{name} v{version}: {path} is corrupted: {what} {actual} != manifest {expected}"
        )


class ManifestCorruptError(IntegrityError):
    def __init__(self, name: str, version: int, reason: str) -> None:
        self.name, self.version, self.reason = name, version, reason
        super().__init__(f"manifest of {name} v{version} is not trustworthy: {reason}")


class FileChangedError(IntegrityError):
    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path} changed while it was being uploaded; nothing was registered")


# --- concurrency -------------------------------------------------------------------------------


class ConflictError(ModelStoreError):
    """An optimistic-concurrency check failed (someone else changed the blob first)."""


class AliasConflictError(ConflictError):
    def __init__(
        self,
        name: str,
        alias: str,
        expected: int | None,
        actual: int | None,
        *,
        kind: str = "model",
    ) -> None:
        self.name, self.alias, self.expected, self.actual = name, alias, expected, actual
        super().__init__(
            f"alias {alias!r} of {kind} {name!r} is at {_v(actual)}, not at {_v(expected)} as "
            "expected: someone moved it meanwhile; re-read and retry"
        )


class ArchivedVersionError(ConflictError):
    def __init__(self, name: str, version: int, action: str, *, kind: str = "model") -> None:
        self.name, self.version = name, version
        super().__init__(f"cannot {action}: version {version} of {kind} {name!r} is archived")


class TooMuchContentionError(ConflictError):
    def __init__(self, what: str, attempts: int) -> None:
        super().__init__(f"gave up on {what} after {attempts} concurrent-update conflicts")


# --- evaluation --------------------------------------------------------------------------------


class EvaluationError(ModelStoreError):
    """A model cannot be evaluated on a dataset as they are stored (nothing was cached): the
    feature count or the labels do not fit the model, the set holds NaN or no rows, ..."""

    def __init__(self, reason: str, subject: str = "") -> None:
        self.reason, self.subject = reason, subject
        where = f" {subject}" if subject else ""
        super().__init__(f"cannot evaluate{where}: {reason}")


# --- storage -----------------------------------------------------------------------------------


class StorageError(ModelStoreError):
    """Blob storage failed in a way the store cannot hide."""


class StorageUnavailableError(StorageError):
    def __init__(self, endpoint: str, attempts: int, cause: str) -> None:
        self.endpoint, self.attempts = endpoint, attempts
        super().__init__(
            f"Blob storage at {endpoint} is unreachable after {attempts} attempts ({cause}); "
            "is Azurite running / is the account URL right?"
        )


class StorageAuthError(StorageError):
    def __init__(self, endpoint: str, cause: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"access to Blob storage at {endpoint} was denied ({cause})")


class RegistrationIncompleteError(StorageError):
    """A registration stopped after the point of no return, or where its outcome is unknown.

    `published` is True when the version exists (its manifest was written; then `manifest`
    holds it), None when the store could not find out, False when it exists but not as ours.
    """

    def __init__(
        self, name: str, version: int, reason: str, *, published: bool | None, manifest: Any = None
    ) -> None:
        self.name, self.version, self.published, self.manifest = name, version, published, manifest
        super().__init__(f"{name} v{version}: {reason}")


class ClaimLostError(StorageError):
    """Another registration took over our version number (it judged ours abandoned)."""

    def __init__(self, name: str, version: int) -> None:
        self.name, self.version = name, version
        super().__init__(
            f"{name} v{version}: another registration took this number over while it uploaded "
            "(it judged this one abandoned); nothing was published, run the command again"
        )


def _v(version: int | None) -> str:
    return "nothing" if version is None else f"version {version}"


class BlobNotFoundError(StorageError):
    """Backend signal: the blob (or its container) does not exist."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"blob {path} not found")


class BlobConflictError(StorageError):
    """Backend signal: a conditional write lost (If-None-Match: * or If-Match failed)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"blob {path} was changed concurrently")


class BlobTooLargeError(StorageError):
    """Backend signal: a small JSON blob (manifest, index, alias, claim) is implausibly large."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        self.path, self.size, self.limit = path, size, limit
        super().__init__(
            f"blob {path} is {size} bytes, more than the {limit} a manifest, index or alias may "
            "have: refusing to read it"
        )
