"""The agent's package index: a local wheel directory (`PIP_FIND_LINKS`, `PIP_NO_INDEX`).

A hosted agent installs from PyPI. Here the test agent gets exactly the versions this test venv
runs, repacked as wheels from the installed files (each distribution's RECORD), so a stage's
`pip install .` takes seconds and never reaches the network; plus the build backend the
project's pyproject.toml asks for (setuptools, wheel), downloaded once. Cached under build/.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import sys_tags

SKIP_FILES = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str, extras: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    """`root[extras]` and everything it needs, as installed here."""
    installed = {_normal(d.metadata["Name"]): d for d in importlib.metadata.distributions()}
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        dist = installed.get(_normal(name))
        if dist is None:
            continue  # an optional dependency for another platform/python
        if _normal(name) != _normal(root):
            seen[_normal(name)] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            env = {"extra": ""}
            active = req.marker is None or any(
                req.marker.evaluate({**env, "extra": e}) for e in ("", *wanted)
            )
            if active and _normal(req.name) not in seen:
                todo.append((req.name, tuple(req.extras)))
    return list(seen.values())


def _tag(dist: importlib.metadata.Distribution) -> str:
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    supported = {str(t) for t in sys_tags()}
    usable = [t for t in tags if t in supported]
    if not usable:
        raise RuntimeError(f"{dist.metadata['Name']}: no usable WHEEL tag in {tags}")
    return usable[0]


def repack(dist: importlib.metadata.Distribution, into: Path) -> Path:
    name = re.sub(r"[-.]+", "_", dist.metadata["Name"])
    target = into / f"{name}-{dist.version}-{_tag(dist)}.whl"
    if target.exists():
        return target
    base = Path(str(dist.locate_file("")))
    rows: list[tuple[str, str, str]] = []
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in dist.files or []:
            path = str(file)
            if path.startswith("..") or "__pycache__" in path or path.endswith(".pyc"):
                continue
            if ".dist-info/" in path and path.rsplit("/", 1)[1] in SKIP_FILES:
                continue
            data = (base / path).read_bytes()
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            rows.append((path, f"sha256={digest.decode()}", str(len(data))))
        info = next(str(f).split("/", 1)[0] for f in dist.files or [] if ".dist-info/" in str(f))
        record = io.StringIO()
        writer = csv.writer(record, lineterminator="\n")
        writer.writerows([*rows, (f"{info}/RECORD", "", "")])
        archive.writestr(f"{info}/RECORD", record.getvalue())
    partial.replace(target)
    return target


def build_mirror(into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for dist in closure("modelops", ("train",)):
        repack(dist, into)
    repack(importlib.metadata.distribution("pip"), into)
    stamp = into / ".build-backend"
    if not stamp.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--only-binary=:all:",
                "--dest",
                str(into),
                "setuptools>=77",
                "wheel",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        stamp.write_text("setuptools>=77 wheel\n")
    return into
