"""The "restricted" Pod Security Standard (and a digest-pinned image) for one rendered object.

Pure: `check_manifest(obj)` returns (field, message) pairs, fields named like
``Deployment/modelops-app: spec.template.spec.containers[app]...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Writable scratch directory every container gets as an emptyDir (a path inside the pod).
SCRATCH_DIR = "/tmp"  # noqa: S108

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


def check_manifest(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Check one rendered object for the restricted Pod Security Standard and a pinned image.

    Fields are named like ``Deployment/modelops-app: spec.template.spec.containers[app]...``.
    """
    pod = pod_spec(obj)
    if pod is None:
        return []
    where = f"{obj.get('kind')}/{object_name(obj)}"
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


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
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


def object_name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))
