"""Validate each environment's overlay offline: pins, rendering, Kubernetes schemas, restricted PSS.

Driven by the parsed `promotion.yaml` (`OverlayPolicy`): its environments and their overlay
paths, the image name and the model pin's generator name. Nothing here knows an environment's
name or where overlays live. Public API (`promotion-bot validate`, the automerge check and the
nightly release call it):

    validate_overlays(root: Path, policy) -> list[Problem]

An empty list means every environment's overlay (a path relative to `root`, the repository)
pins an image digest and a model (name, version, sha256), renders with ``kubectl kustomize``
to a Deployment whose init container reads the policy's one model store (account and container),
and renders to manifests that match the Kubernetes JSON schemas of `KUBERNETES_VERSION`
(bundled by the ``kubernetes-validate`` package, so no network is needed) and meet the
"restricted" Pod Security Standard; and no other directory beside them holds an overlay that
pins the image or the model (an environment `promotion.yaml` does not know). Each `Problem`
names the file and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml.error import YAMLError

from bot.overlay.pins import Issue, check_pins
from bot.overlay.pss import check_manifest, object_name, pod_spec
from bot.overlay.render import (
    RENDER_TIMEOUT_S,
    DeployValidationError,
    load_kustomization,
    parse_rendered,
    render,
)
from bot.overlay.schema import KUBERNETES_VERSION, check_schema

#: The file names `kubectl kustomize DIR` reads.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


class EnvironmentOverlay(Protocol):
    """What the validator reads of one environment in `promotion.yaml`."""

    @property
    def name(self) -> str: ...

    @property
    def overlay(self) -> str: ...


class StoreLocation(Protocol):
    """The model store `promotion.yaml` declares (`model_store:`)."""

    @property
    def account_url(self) -> str: ...

    @property
    def container(self) -> str: ...


class OverlayPolicy(Protocol):
    """What the validator reads of `promotion.yaml`."""

    @property
    def model_store(self) -> StoreLocation: ...

    @property
    def image_name(self) -> str: ...

    @property
    def model_pin(self) -> str: ...

    @property
    def environments(self) -> Sequence[EnvironmentOverlay]: ...


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the deploy tree: where (file, field) and what."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


def validate_overlays(
    root: Path,
    policy: OverlayPolicy,
    *,
    kubernetes_version: str = KUBERNETES_VERSION,
    kubectl: str = "kubectl",
    timeout: float = RENDER_TIMEOUT_S,
) -> list[Problem]:
    """Validate the overlay of every environment of `policy` under the repository `root`;
    return the problems found (empty: all good)."""
    problems: list[Problem] = []
    for env in policy.environments:
        problems.extend(
            _validate_overlay(
                root / env.overlay,
                env.name,
                policy,
                kubernetes_version=kubernetes_version,
                kubectl=kubectl,
                timeout=timeout,
            )
        )
    problems.extend(_unknown_overlays(root, policy))
    return sorted(problems)


def render_overlays(
    root: Path, policy: OverlayPolicy, out_dir: Path, *, kubectl: str = "kubectl"
) -> list[Path]:
    """Write each environment's rendered manifests to ``out_dir/<env>.yaml`` (atomic per file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for env in policy.environments:
        text = render((root / env.overlay).parent, kubectl=kubectl)
        target = out_dir / f"{env.name}.yaml"
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
        written.append(target)
    return written


def _validate_overlay(
    kfile: Path,
    env: str,
    policy: OverlayPolicy,
    *,
    kubernetes_version: str,
    kubectl: str,
    timeout: float,
) -> Iterator[Problem]:
    overlay = kfile.parent
    if not overlay.is_dir():
        yield Problem(str(overlay), "overlays", "environment missing")
        return
    if not kfile.is_file():
        yield Problem(str(kfile), "(file)", f"missing: the overlay of environment {env!r}")
        return
    if kfile.name not in KUSTOMIZATION_FILES:
        message = f"kubectl kustomize reads only {', '.join(KUSTOMIZATION_FILES)}"
        yield Problem(str(kfile), "(file)", message)
        return
    try:
        doc = load_kustomization(kfile)
    except DeployValidationError as exc:
        yield Problem(str(kfile), "(yaml)", str(exc))
        return
    pin_problems = [
        Problem(str(kfile), f, m) for f, m in check_pins(doc, policy.image_name, policy.model_pin)
    ]
    yield from pin_problems
    try:
        rendered = parse_rendered(render(overlay, kubectl=kubectl, timeout=timeout))
    except DeployValidationError as exc:
        yield Problem(str(kfile), "(kustomize build)", str(exc))
        return
    except YAMLError as exc:
        yield Problem(str(kfile), "(kustomize build)", f"rendered output is not YAML: {exc}")
        return
    where = f"{kfile} (rendered)"
    store_issues = check_model_store(rendered, policy.model_store)
    yield from (Problem(where, f, m) for f, m in store_issues)
    for obj in rendered:
        name = f"{obj.get('kind')}/{object_name(obj)}"
        for message in check_schema(obj, kubernetes_version):
            yield Problem(where, name, f"schema (Kubernetes {kubernetes_version}): {message}")
        for field, message in check_manifest(obj):
            yield Problem(where, field, message)
    if not pin_problems:
        issues = _check_pins_rendered(doc, rendered, policy.image_name, policy.model_pin)
        yield from (Problem(where, f, m) for f, m in issues)


def _check_pins_rendered(
    doc: Any, rendered: Iterable[Mapping[str, Any]], image_name: str, model_pin: str
) -> list[Issue]:
    """The pins must reach the pods: the pinned image and the hashed model-pin ConfigMap."""
    entry = next(e for e in doc["images"] if e.get("name") == image_name)
    want_image = f"{entry['newName']}:{entry['newTag']}@{entry['digest']}"
    pin_maps = [
        object_name(o)
        for o in rendered
        if o.get("kind") == "ConfigMap" and object_name(o).startswith(f"{model_pin}-")
    ]
    out: list[Issue] = []
    workloads = [o for o in rendered if pod_spec(o) is not None]
    if not workloads:
        out.append(("(rendered)", "no workload renders from this overlay"))
    for obj in workloads:
        pod = pod_spec(obj) or {}
        where = f"{obj.get('kind')}/{object_name(obj)}"
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            if c.get("image") != want_image:
                out.append(
                    (f"{where}: containers[{c.get('name')}].image", f"expected {want_image}")
                )
            refs = [(e.get("configMapRef") or {}).get("name") for e in c.get("envFrom") or []]
            if not any(r in pin_maps for r in refs):
                field = f"{where}: containers[{c.get('name')}].envFrom"
                out.append((field, f"does not read the {model_pin} ConfigMap"))
    return out


STORE_KEYS = ("MODELSTORE_ACCOUNT_URL", "MODELSTORE_CONTAINER")


def check_model_store(rendered: Sequence[Mapping[str, Any]], store: StoreLocation) -> list[Issue]:
    """Every init container downloads from the policy's model store: its MODELSTORE_ACCOUNT_URL
    and MODELSTORE_CONTAINER (from `env`, else the ConfigMaps of `envFrom`, the later winning as
    in Kubernetes) are `promotion.yaml`'s `model_store`. Another account would be a store the
    registry never writes to: the pod would fail with version-not-found or a sha mismatch."""
    want = {
        "MODELSTORE_ACCOUNT_URL": store.account_url.rstrip("/"),
        "MODELSTORE_CONTAINER": store.container,
    }
    maps = {object_name(o): o.get("data") or {} for o in rendered if o.get("kind") == "ConfigMap"}
    out: list[Issue] = []
    for obj in rendered:
        pod = pod_spec(obj)
        if pod is None:
            continue
        for c in pod.get("initContainers") or []:
            values: dict[str, str] = {}
            for source in c.get("envFrom") or []:
                data = maps.get(str((source.get("configMapRef") or {}).get("name")), {})
                values.update({k: str(v) for k, v in data.items() if k in STORE_KEYS})
            for var in c.get("env") or []:
                if var.get("name") in STORE_KEYS and "value" in var:
                    values[var["name"]] = str(var["value"])
            field = f"{obj.get('kind')}/{object_name(obj)}: initContainers[{c.get('name')}]"
            for key, expected in want.items():
                got = values.get(key)
                if got is None:
                    out.append(
                        (f"{field}.{key}", f"not set; promotion.yaml model_store is {expected}")
                    )
                elif got.rstrip("/") != expected:
                    out.append(
                        (
                            f"{field}.{key}",
                            f"{got} is not the model store of promotion.yaml ({expected}): every "
                            "environment reads the one store the registry writes to",
                        )
                    )
    return out


def _unknown_overlays(root: Path, policy: OverlayPolicy) -> list[Problem]:
    """Directories beside the environments' overlays whose kustomization pins the image or the
    model: an environment `promotion.yaml` does not know (nothing would ever promote it)."""
    known = [env.name for env in policy.environments]
    used = {(root / env.overlay).parent for env in policy.environments}
    problems = []
    for parent in sorted({overlay.parent for overlay in used}):
        if not parent.is_dir():
            continue
        for candidate in sorted(p for p in parent.iterdir() if p.is_dir() and p not in used):
            if _pins_something(candidate, policy):
                message = f"unknown environment {candidate.name!r}; known: {', '.join(known)}"
                problems.append(Problem(str(candidate), "overlays", message))
    return problems


def _pins_something(directory: Path, policy: OverlayPolicy) -> bool:
    """True when the directory's kustomization has an `images` entry named like the policy's
    image or a generator named like its model pin (a base or a component has neither)."""
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if not path.is_file():
            continue
        try:
            doc = load_kustomization(path)
        except DeployValidationError:
            return False  # not an overlay we could read: not one `promotion.yaml` lost
        if not isinstance(doc, Mapping):
            return False
        wanted = (("images", policy.image_name), ("configMapGenerator", policy.model_pin))
        for key, value in wanted:
            items = doc.get(key)
            if isinstance(items, list) and any(
                isinstance(item, Mapping) and item.get("name") == value for item in items
            ):
                return True
        return False
    return False
