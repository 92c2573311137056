"""The validator's adapters: read a kustomization, run `kubectl kustomize`, split its output."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.overlay.document import AnchorError, yaml_loader

RENDER_TIMEOUT_S = 60.0


class DeployValidationError(Exception):
    """Raised by the adapters below; turned into a Problem by `validate_overlays`."""


def load_kustomization(path: Path) -> object:
    """Parse one kustomization file; raise DeployValidationError naming the line on bad YAML
    (anchors and aliases included: they have no place in an overlay)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeployValidationError(f"cannot read: {exc.strerror}") from exc
    try:
        return yaml_loader("safe").load(text)
    except AnchorError as exc:
        raise DeployValidationError(str(exc)) from exc
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
    return [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]
