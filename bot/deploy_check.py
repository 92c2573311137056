"""Validate the Kustomize deploy tree offline: pins, rendering, Kubernetes schemas, restricted PSS.

Public API (the nightly release calls it before it moves `release`):

    validate_overlays(deploy_dir: Path) -> list[Problem]

An empty list means every environment overlay under ``deploy_dir/overlays`` pins an image digest
and a model (name, version, sha256), renders with ``kubectl kustomize``, and renders to manifests
that match the Kubernetes JSON schemas of :data:`KUBERNETES_VERSION` (bundled by the
``kubernetes-validate`` package, so no network is needed) and meet the "restricted" Pod Security
Standard. Each :class:`Problem` names the file and the field.

The checks are pure functions over parsed YAML (``check_pins``, ``check_manifest``); only
``load_kustomization`` and ``render`` touch the disk or run a process.

CLI: ``python -m bot.deploy_check [DEPLOY_DIR] [--render-to DIR]`` (``make validate``,
``make validate RENDER_DIR=DIR``) prints one line per problem and exits 1 if there is any, 2 on a
usage error, 3 on an unexpected one (``--traceback`` shows it); with ``--render-to`` a valid
tree's overlays are written to ``DIR/<env>.yaml``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from cliexit import EXIT_ERROR, EXIT_OK, run_argparse
from modelstore.names import MODEL_NAME_RE

#: Environments an overlay may be named after (the order of promotion).
KNOWN_ENVS: tuple[str, ...] = ("dev", "staging", "prod")
#: Kubernetes API version whose schemas the rendered manifests must match (an AKS-supported one).
KUBERNETES_VERSION = "1.31.0"
#: The image placeholder used in the base; each overlay pins it.
IMAGE_NAME = "modelops-app"
#: The generator holding the model pin.
MODEL_PIN = "model-pin"
RENDER_TIMEOUT_S = 60.0
#: Writable scratch directory every container gets as an emptyDir (a path inside the pod).
SCRATCH_DIR = "/tmp"  # noqa: S108

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
VERSION_RE = re.compile(r"^[1-9][0-9]*$")
# OCI distribution spec: a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
IMAGE_REF_RE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9-]+)*(:[0-9]+)?(/[a-z0-9._-]+)+$")
REQUIRED_LITERALS = ("MODEL_NAME", "MODEL_VERSION", "MODEL_SHA256")
# Pod Security Standards ("baseline", inherited by "restricted"): what may be set at all.
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
APPARMOR_TYPES = {"RuntimeDefault", "Localhost"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# Volume types the restricted Pod Security Standard allows.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the deploy tree: where (file, field) and what."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class DeployValidationError(Exception):
    """Raised by the adapters below; turned into a Problem by `validate_overlays`."""


# --------------------------------------------------------------------------------------------
# Pure checks
# --------------------------------------------------------------------------------------------


def check_pins(doc: object) -> list[tuple[str, str]]:
    """Check an overlay's parsed kustomization for the pins; return (field, message) pairs."""
    if not isinstance(doc, Mapping):
        return [("(document)", "expected a mapping (a Kustomization), got " + _kind_of(doc))]
    out: list[tuple[str, str]] = []
    kind = doc.get("kind", "Kustomization")
    if kind != "Kustomization":
        out.append(("kind", f"expected Kustomization, got {kind!r}"))
    out.extend(_check_image_pin(doc.get("images")))
    out.extend(_check_model_pin(doc.get("configMapGenerator")))
    return out


def _check_image_pin(images: object) -> list[tuple[str, str]]:
    if images is None:
        return [("images", f"missing: the overlay must pin the image {IMAGE_NAME!r}")]
    if not isinstance(images, list):
        return [("images", "expected a list of image entries, got " + _kind_of(images))]
    entries = [e for e in images if isinstance(e, Mapping) and e.get("name") == IMAGE_NAME]
    if not entries:
        return [("images", f"no entry with name: {IMAGE_NAME}")]
    if len(entries) > 1:
        return [("images", f"{len(entries)} entries with name: {IMAGE_NAME}; expected exactly one")]
    entry = entries[0]
    field = f"images[{IMAGE_NAME}]"
    out: list[tuple[str, str]] = []
    new_name = entry.get("newName")
    if not isinstance(new_name, str) or not IMAGE_REF_RE.match(new_name):
        out.append((f"{field}.newName", f"expected a registry/repository name, got {new_name!r}"))
    tag = entry.get("newTag")
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        out.append((f"{field}.newTag", f"expected an image tag (a string), got {tag!r}"))
    digest = entry.get("digest")
    if digest is None:
        out.append((f"{field}.digest", "missing: pin the image by digest (sha256:<64 hex>)"))
    elif not isinstance(digest, str) or not DIGEST_RE.match(digest):
        out.append((f"{field}.digest", f"expected sha256:<64 lowercase hex>, got {digest!r}"))
    return out


def _check_model_pin(generators: object) -> list[tuple[str, str]]:
    if generators is None:
        return [("configMapGenerator", f"missing: the overlay must pin the model in {MODEL_PIN!r}")]
    if not isinstance(generators, list):
        return [("configMapGenerator", "expected a list, got " + _kind_of(generators))]
    entries = [g for g in generators if isinstance(g, Mapping) and g.get("name") == MODEL_PIN]
    if len(entries) != 1:
        return [("configMapGenerator", f"expected exactly one entry named {MODEL_PIN!r}")]
    field = f"configMapGenerator[{MODEL_PIN}]"
    entry = entries[0]
    extra = sorted(k for k in ("files", "envs", "env") if k in entry)
    if extra:
        return [(field, f"pins must be plain literals, not {', '.join(extra)}")]
    literals = entry.get("literals")
    if not isinstance(literals, list):
        return [(f"{field}.literals", "missing: expected MODEL_NAME, MODEL_VERSION, MODEL_SHA256")]
    values: dict[str, str] = {}
    out: list[tuple[str, str]] = []
    for item in literals:
        if not isinstance(item, str) or "=" not in item:
            out.append((f"{field}.literals", f"expected KEY=VALUE, got {item!r}"))
            continue
        key, _, value = item.partition("=")
        if key in values:
            out.append((f"{field}.literals.{key}", "given twice"))
        values[key] = value
    checks = {
        "MODEL_NAME": (MODEL_NAME_RE, "a lowercase model name"),
        "MODEL_VERSION": (VERSION_RE, "a positive integer"),
        "MODEL_SHA256": (SHA256_RE, "64 lowercase hex characters"),
    }
    for key, (pattern, what) in checks.items():
        got = values.get(key)
        if got is None:
            out.append((f"{field}.literals.{key}", "missing"))
        elif not pattern.match(got):
            out.append((f"{field}.literals.{key}", f"expected {what}, got {got!r}"))
    return out


def check_manifest(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Check one rendered object for the restricted Pod Security Standard and a pinned image.

    Fields are named like ``Deployment/modelops-app: spec.template.spec.containers[app]...``.
    """
    pod = _pod_spec(obj)
    if pod is None:
        return []
    where = f"{obj.get('kind')}/{_name(obj)}"
    prefix = "spec.template.spec" if obj.get("kind") != "Pod" else "spec"
    out: list[tuple[str, str]] = []
    pod_sc = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            out.append((f"{where}: {prefix}.{flag}", "must not be true (restricted PSS)"))
    if pod_sc.get("runAsUser") == 0:
        out.append((f"{where}: {prefix}.securityContext.runAsUser", "must not be 0 (root)"))
    out.extend(_check_baseline_options(pod_sc, f"{where}: {prefix}.securityContext"))
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            field = f"{where}: {prefix}.securityContext.sysctls"
            out.append((field, f"sysctl {sysctl.get('name')!r} is not in the safe set"))
    volumes = {v.get("name"): v for v in pod.get("volumes") or [] if isinstance(v, Mapping)}
    for name, vol in volumes.items():
        kinds = set(vol) - {"name"}
        bad = kinds - RESTRICTED_VOLUME_TYPES
        if bad:
            out.append(
                (f"{where}: {prefix}.volumes[{name}]", f"volume type {sorted(bad)} not allowed")
            )
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for c in pod.get(group) or []:
            cfield = f"{where}: {prefix}.{group}[{c.get('name')}]"
            out.extend(_check_container(c, cfield, pod_sc, volumes))
    return out


def _check_container(
    c: Mapping[str, Any],
    cfield: str,
    pod_sc: Mapping[str, Any],
    volumes: Mapping[Any, Mapping[str, Any]],
) -> list[tuple[str, str]]:
    sc: Mapping[str, Any] = c.get("securityContext") or {}
    f = f"{cfield}.securityContext"
    out: list[tuple[str, str]] = []

    def effective(key: str) -> Any:
        return sc[key] if key in sc else pod_sc.get(key)

    if effective("runAsNonRoot") is not True:
        out.append((f"{f}.runAsNonRoot", "must be true (here or in the pod securityContext)"))
    uid = effective("runAsUser")
    if not isinstance(uid, int) or isinstance(uid, bool) or uid <= 0:
        out.append((f"{f}.runAsUser", f"must be a numeric non-root uid, got {uid!r}"))
    if sc.get("allowPrivilegeEscalation") is not False:
        out.append((f"{f}.allowPrivilegeEscalation", "must be false"))
    if sc.get("privileged"):
        out.append((f"{f}.privileged", "must not be true"))
    if sc.get("readOnlyRootFilesystem") is not True:
        out.append((f"{f}.readOnlyRootFilesystem", "must be true"))
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        out.append((f"{f}.capabilities.drop", "must contain ALL"))
    added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        out.append((f"{f}.capabilities.add", f"only NET_BIND_SERVICE allowed, got {sorted(added)}"))
    seccomp = effective("seccompProfile") or {}
    if seccomp.get("type") != "RuntimeDefault":
        out.append((f"{f}.seccompProfile.type", "must be RuntimeDefault"))
    out.extend(_check_baseline_options(sc, f))
    for port in c.get("ports") or []:
        if port.get("hostPort"):
            out.append((f"{cfield}.ports", "hostPort is not allowed"))
    mounts = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts") or []}
    tmp = volumes.get(mounts.get(SCRATCH_DIR))
    if tmp is None or "emptyDir" not in tmp:
        message = f"{SCRATCH_DIR} must be an emptyDir mount (the root filesystem is read-only)"
        out.append((f"{cfield}.volumeMounts", message))
    image = c.get("image")
    if not isinstance(image, str) or "@sha256:" not in image:
        message = f"must be pinned by digest (name:tag@sha256:...), got {image!r}"
        out.append((f"{cfield}.image", message))
    return out


def _check_baseline_options(sc: Mapping[str, Any], f: str) -> list[tuple[str, str]]:
    """AppArmor, SELinux and /proc options a securityContext may not loosen (baseline PSS)."""
    out: list[tuple[str, str]] = []
    if sc.get("procMount", "Default") != "Default":
        out.append((f"{f}.procMount", "must be Default (unmasked /proc is not allowed)"))
    apparmor = (sc.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in APPARMOR_TYPES:
        out.append(
            (f"{f}.appArmorProfile.type", f"must be RuntimeDefault or Localhost, got {apparmor!r}")
        )
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES:
        out.append((f"{f}.seLinuxOptions.type", f"{selinux.get('type')!r} is not allowed"))
    for key in ("user", "role"):
        if selinux.get(key):
            out.append((f"{f}.seLinuxOptions.{key}", "must not be set"))
    return out


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kind = obj.get("kind")
    spec: Mapping[str, Any] = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        kind = "Job"
    if kind in POD_TEMPLATE_KINDS:
        return (spec.get("template") or {}).get("spec") or {}
    return None


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


# --------------------------------------------------------------------------------------------
# Schemas (offline: shipped inside the kubernetes-validate wheel)
# --------------------------------------------------------------------------------------------


def _schema_dir(kubernetes_version: str) -> Any:
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    return root.joinpath(f"v{kubernetes_version}-local-strict")


@lru_cache(maxsize=4)
def _registry(kubernetes_version: str) -> Registry[Any]:
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
    return jsonschema.Draft202012Validator(schema, registry=_registry(kubernetes_version))


# --------------------------------------------------------------------------------------------
# Adapters: files and kubectl
# --------------------------------------------------------------------------------------------


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def load_kustomization(path: Path) -> object:
    """Parse one kustomization file; raise DeployValidationError naming the line on bad YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeployValidationError(f"cannot read: {exc.strerror}") from exc
    try:
        return _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DeployValidationError(f"malformed YAML{where}: {problem}") from exc


def render(overlay: Path, *, kubectl: str = "kubectl", timeout: float = RENDER_TIMEOUT_S) -> str:
    """Run `kubectl kustomize <overlay>` and return the rendered YAML."""
    try:
        done = subprocess.run(
            [kubectl, "kustomize", str(overlay)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise DeployValidationError(f"{kubectl} not found on PATH (install kubectl)") from exc
    except subprocess.TimeoutExpired as exc:
        raise DeployValidationError(f"kubectl kustomize timed out after {timeout:g}s") from exc
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        raise DeployValidationError(lines[-1] if lines else f"exit code {done.returncode}")
    return done.stdout


def parse_rendered(text: str) -> list[dict[str, Any]]:
    """Split rendered multi-document YAML into objects (empty documents dropped)."""
    return [d for d in _yaml().load_all(text) if d is not None]


# --------------------------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------------------------


def validate_overlays(
    deploy_dir: Path,
    *,
    envs: Sequence[str] = KNOWN_ENVS,
    kubernetes_version: str = KUBERNETES_VERSION,
    kubectl: str = "kubectl",
    timeout: float = RENDER_TIMEOUT_S,
) -> list[Problem]:
    """Validate every overlay of the deploy tree; return the problems found (empty: all good)."""
    overlays_dir = deploy_dir / "overlays"
    if not overlays_dir.is_dir():
        return [Problem(str(overlays_dir), "overlays", "directory not found")]
    problems: list[Problem] = []
    present = sorted(p for p in overlays_dir.iterdir() if p.is_dir())
    for missing in sorted(set(envs) - {p.name for p in present}):
        problems.append(Problem(str(overlays_dir / missing), "overlays", "environment missing"))
    for overlay in present:
        if overlay.name not in envs:
            problems.append(
                Problem(
                    str(overlay),
                    "overlays",
                    f"unknown environment {overlay.name!r}; known: {', '.join(envs)}",
                )
            )
            continue
        problems.extend(_validate_overlay(overlay, kubernetes_version, kubectl, timeout))
    return sorted(problems)


def _validate_overlay(
    overlay: Path, kubernetes_version: str, kubectl: str, timeout: float
) -> Iterator[Problem]:
    kfile = overlay / "kustomization.yaml"
    if not kfile.is_file():
        yield Problem(str(kfile), "(file)", "missing: each overlay needs a kustomization.yaml")
        return
    try:
        doc = load_kustomization(kfile)
    except DeployValidationError as exc:
        yield Problem(str(kfile), "(yaml)", str(exc))
        return
    pin_problems = [Problem(str(kfile), f, m) for f, m in check_pins(doc)]
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
    for obj in rendered:
        name = f"{obj.get('kind')}/{_name(obj)}"
        for message in check_schema(obj, kubernetes_version):
            yield Problem(where, name, f"schema (Kubernetes {kubernetes_version}): {message}")
        for field, message in check_manifest(obj):
            yield Problem(where, field, message)
    if not pin_problems:
        yield from (Problem(where, f, m) for f, m in _check_pins_rendered(doc, rendered))


def _check_pins_rendered(doc: Any, rendered: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The pins must reach the pods: the pinned image and the hashed model-pin ConfigMap."""
    entry = next(e for e in doc["images"] if e.get("name") == IMAGE_NAME)
    want_image = f"{entry['newName']}:{entry['newTag']}@{entry['digest']}"
    pin_maps = [
        _name(o)
        for o in rendered
        if o.get("kind") == "ConfigMap" and _name(o).startswith(f"{MODEL_PIN}-")
    ]
    out: list[tuple[str, str]] = []
    workloads = [o for o in rendered if _pod_spec(o) is not None]
    if not workloads:
        out.append(("(rendered)", "no workload renders from this overlay"))
    for obj in workloads:
        pod = _pod_spec(obj) or {}
        where = f"{obj.get('kind')}/{_name(obj)}"
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            if c.get("image") != want_image:
                out.append(
                    (f"{where}: containers[{c.get('name')}].image", f"expected {want_image}")
                )
            refs = [(e.get("configMapRef") or {}).get("name") for e in c.get("envFrom") or []]
            if not any(r in pin_maps for r in refs):
                out.append(
                    (
                        f"{where}: containers[{c.get('name')}].envFrom",
                        f"does not read the {MODEL_PIN} ConfigMap",
                    )
                )
    return out


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def _kind_of(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _json_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def render_overlays(
    deploy_dir: Path, out_dir: Path, *, envs: Sequence[str] = KNOWN_ENVS, kubectl: str = "kubectl"
) -> list[Path]:
    """Write each overlay's rendered manifests to ``out_dir/<env>.yaml`` (atomic per file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for env in envs:
        text = render(deploy_dir / "overlays" / env, kubectl=kubectl)
        target = out_dir / f"{env}.yaml"
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.deploy_check [DEPLOY_DIR] [--render-to DIR]`: exit 1 on problems."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.deploy_check",
        description="Validate the Kustomize overlays (pins, render, schemas, restricted PSS).",
    )
    parser.add_argument("deploy_dir", nargs="?", default="deploy", type=Path)
    parser.add_argument(
        "--render-to", type=Path, help="when valid, write each rendered overlay to DIR/<env>.yaml"
    )
    return run_argparse(parser, argv, _validate, codes={DeployValidationError: EXIT_ERROR})


def _validate(args: argparse.Namespace) -> int:
    deploy_dir: Path = args.deploy_dir
    problems = validate_overlays(deploy_dir)
    for problem in problems:
        sys.stdout.write(f"{problem}\n")
    if problems:
        sys.stdout.write(f"{len(problems)} problem(s) in {deploy_dir}\n")
        return EXIT_ERROR
    sys.stdout.write(f"ok: every overlay in {deploy_dir}/overlays renders, validates and pins\n")
    if args.render_to is not None:
        try:
            written = render_overlays(deploy_dir, args.render_to)
        except (DeployValidationError, OSError) as exc:
            sys.stderr.write(f"cannot write rendered manifests: {exc}\n")
            return EXIT_ERROR
        sys.stdout.write("rendered: " + " ".join(str(p) for p in written) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
