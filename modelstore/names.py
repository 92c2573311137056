"""Validation of everything that ends up in a blob path: model names, aliases, refs, file paths.

Pure functions. Names are restricted to lowercase ASCII so a name can never escape its folder
(`../x`), collide by case, or need quoting in a Kubernetes ConfigMap literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelstore.errors import InvalidNameError, InvalidReferenceError

MODEL_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$")
ALIAS_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})$")
KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
FILE_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
VERSION_RE = re.compile(r"^[1-9][0-9]{0,17}$")

RESERVED_ALIASES = frozenset({"latest"})
# Names the store writes itself inside a version folder; a model file may not use them.
RESERVED_FILES = frozenset({"manifest.json"})

MODEL_RULE = "use 1-63 characters: lowercase letters, digits, '-' or '_', starting alphanumeric"
ALIAS_RULE = "use 1-63 characters: lowercase letters, digits or '-', starting alphanumeric"


def validate_model_name(name: str, kind: str = "model") -> str:
    """A model's (or, with `kind="dataset"`, an evaluation set's) name."""
    if not isinstance(name, str) or not MODEL_NAME_RE.fullmatch(name):
        raise InvalidNameError(f"{kind} name", str(name), MODEL_RULE)
    return name


def validate_alias(alias: str) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias):
        raise InvalidNameError("alias", str(alias), ALIAS_RULE)
    if alias in RESERVED_ALIASES:
        raise InvalidNameError("alias", alias, "'latest' is reserved for the newest version")
    return alias


def validate_key(kind: str, key: str) -> str:
    """Metric and tag keys: short, printable, no whitespace."""
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise InvalidNameError(
            kind, str(key), "use 1-128 characters: letters, digits, '_', '.', '-'"
        )
    return key


def validate_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidReferenceError(str(version))
    return version


def validate_file_path(path: str) -> str:
    """A relative POSIX path of a model file inside its version folder."""
    parts = path.split("/")
    if (
        not path
        or any(not FILE_PART_RE.fullmatch(p) for p in parts)
        or any(p in {".", ".."} for p in parts)
    ):
        raise InvalidNameError(
            "file path",
            path,
            "each part must be letters, digits, '_', '.', '-' and not start with '.'",
        )
    if path in RESERVED_FILES:
        raise InvalidNameError("file path", path, "the name is reserved for the store's manifest")
    return path


@dataclass(frozen=True)
class Ref:
    """A parsed reference: exactly one of version, latest or alias is meaningful."""

    kind: str  # "version" | "latest" | "alias"
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.kind == "version":
            return str(self.version)
        if self.kind == "alias":
            return f"@{self.alias}"
        return "latest"


def parse_ref(ref: str | int) -> Ref:
    """'3' or 3 -> version 3; 'latest'; '@champion' -> alias champion."""
    if isinstance(ref, bool):
        raise InvalidReferenceError(str(ref))
    if isinstance(ref, int):
        return Ref("version", version=validate_version(ref))
    if not isinstance(ref, str):
        raise InvalidReferenceError(str(ref))
    if ref == "latest":
        return Ref("latest")
    if ref.startswith("@"):
        try:
            return Ref("alias", alias=validate_alias(ref[1:]))
        except InvalidNameError:
            raise InvalidReferenceError(ref) from None
    if VERSION_RE.fullmatch(ref):
        return Ref("version", version=int(ref))
    raise InvalidReferenceError(ref)
