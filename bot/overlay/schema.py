"""Kubernetes JSON schemas, offline: shipped inside the `kubernetes-validate` wheel.

jsonschema and referencing are imported on first use: every command imports this module
(through `bot.overlay.validate`), few validate, and the import costs ~50 ms of a no-op run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from referencing import Registry

#: Kubernetes API version whose schemas the rendered manifests must match (an AKS-supported one).
KUBERNETES_VERSION = "1.31.0"


def check_schema(obj: Mapping[str, Any], kubernetes_version: str = KUBERNETES_VERSION) -> list[str]:
    """Validate one object against the bundled Kubernetes JSON schema; return error messages."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return ["object without kind/apiVersion"]
    validator = _validator(kind, api_version, kubernetes_version)
    if validator is None:
        return [f"no Kubernetes {kubernetes_version} schema for {api_version} {kind}"]
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"{_json_path(e.absolute_path)}: {e.message}" for e in errors]


def _schema_dir(kubernetes_version: str) -> Any:
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    return root.joinpath(f"v{kubernetes_version}-local-strict")


@lru_cache(maxsize=4)
def _registry(kubernetes_version: str) -> Registry[Any]:
    from referencing import Registry, Resource

    text = _schema_dir(kubernetes_version).joinpath("_definitions.json").read_text()
    return Resource.from_contents(json.loads(text)) @ Registry()


@lru_cache(maxsize=64)
def _validator(kind: str, api_version: str, kubernetes_version: str) -> Any:
    # rbac.authorization.k8s.io/v1 -> rbac-v1; v1 -> v1 (the package's file naming)
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(kubernetes_version).joinpath(f"{kind.lower()}-{group_version}.json")
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    import jsonschema

    return jsonschema.Draft202012Validator(schema, registry=_registry(kubernetes_version))


def _json_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"
