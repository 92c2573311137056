"""The Cache@2 stand-in: restore at the step, save in a post-job step (pipeline caching).

What the task does on Azure Pipelines (docs/pipelines/release/caching.md of
MicrosoftDocs/azure-devops-docs, "Use Cache task", "Restore keys", "Conditioning on cache
restoration"; the inputs from its task.json):

- `key` is `|`-separated segments: a quoted segment is a string; a segment with a `*` or a `,`
  is comma-separated file patterns (`!` excludes) that must match at least one file; any other
  segment that looks like a path (a `.` or a `/`) is a file that must exist; the rest are
  strings. Files are hashed, relative to `$(System.DefaultWorkingDirectory)`.
- The step restores the cache of exactly `key`; on a miss, each of `restoreKeys` (one a line,
  top to bottom) as a prefix, the most recently created match. `cacheHitVar` is set to `true`,
  `inexact` (a restore key's hit) or `false`.
- After all steps, if the job succeeded, a post-job step saves `path` under `key` for each cache
  step that ran; caches are immutable, so an existing key is never written again (an exact hit
  saves nothing). A failed job saves nothing.

The store is the runner's `cache_dir` (kept between runs when the test hands the same one in);
the hashes are the stand-in's own (a key is only ever compared with keys made here).
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.pipelines.variables import PipelineError

if TYPE_CHECKING:
    from tests.pipelines.runner import Job, StepResult


def _files_digest(files: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _pattern_files(segment: str, root: Path) -> list[Path]:
    patterns = [p.strip() for p in segment.split(",") if p.strip()]
    include = [p for p in patterns if not p.startswith("!")]
    exclude = [p[1:] for p in patterns if p.startswith("!")]
    found = []
    for path in root.rglob("*"):
        relative = str(path.relative_to(root))
        if not path.is_file() or relative.startswith(".git/"):
            continue
        included = any(fnmatch.fnmatchcase(relative, p) or _globstar(relative, p) for p in include)
        if included and not any(fnmatch.fnmatchcase(relative, p) for p in exclude):
            found.append(path)
    return found


def _globstar(relative: str, pattern: str) -> bool:
    """`a/**/b` also matches `a/b` (fnmatch's `*` already crosses `/`)."""
    return "/**/" in pattern and fnmatch.fnmatchcase(relative, pattern.replace("/**/", "/"))


def resolve_key(key: str, root: Path) -> str:
    """The key with each file or pattern segment replaced by the hash of what it names."""
    resolved = []
    for raw in key.split("|"):
        segment = raw.strip()
        if len(segment) >= 2 and segment[0] == segment[-1] == '"':
            resolved.append(segment[1:-1])
        elif "*" in segment or "," in segment:
            files = _pattern_files(segment, root)
            if not files:
                raise PipelineError(f"Cache@2: no file matches the key segment {segment!r}")
            resolved.append(_files_digest(files, root))
        elif "." in segment or "/" in segment:
            path = root / segment
            if not path.is_file():
                raise PipelineError(f"Cache@2: the key segment {segment!r} is not a file")
            resolved.append(_files_digest([path], root))
        else:
            resolved.append(segment)
    return "|".join(resolved)


@dataclass
class PendingSave:
    """A cache step that ran: what its post-job step saves (unless the key hit exactly)."""

    display: str
    key: str
    path: Path
    exact_hit: bool


def _entry(store: Path, key: str) -> Path:
    return store / hashlib.sha256(key.encode()).hexdigest()


def _stored(store: Path) -> list[tuple[int, str, Path]]:
    """(creation order, key, content) of every cache in the store."""
    found = []
    for entry in store.glob("*/key"):
        order, key = entry.read_text().split("\n", 1)
        found.append((int(order), key, entry.parent / "content"))
    return found


def restore(job: Job, inputs: dict[str, str], display: str) -> StepResult:
    from tests.pipelines.runner import StepResult

    root = Path(job.variables.get("System.DefaultWorkingDirectory") or job.sources)
    key = resolve_key(inputs["key"], root)
    path = Path(inputs["path"])
    path = path if path.is_absolute() else root / path
    store = job.runner.cache_dir
    stored = _stored(store) if store.exists() else []
    hit, matched = "false", None
    exact = [s for s in stored if s[1] == key]
    if exact:
        hit, matched = "true", exact[0]
    else:
        for line in inputs.get("restoreKeys", "").splitlines():
            if not line.strip():
                continue
            prefix = resolve_key(line, root)
            candidates = [s for s in stored if s[1].startswith(prefix)]
            if candidates:
                hit, matched = "inexact", max(candidates)
                break
    if matched is not None:
        shutil.copytree(matched[2], path, symlinks=True, dirs_exist_ok=True)
        job.chown_tree(path)
    if inputs.get("cacheHitVar"):
        job.variables.set(inputs["cacheHitVar"], hit)
    job.post_job.append(PendingSave(display, key, path, hit == "true"))
    said = "Cache miss." if matched is None else f"Cache restored ({hit}) from key {matched[1]}"
    return StepResult(display, "Succeeded", f"Resolved key: {key}\n{said}\n", 0)


def save(job: Job, pending: PendingSave) -> StepResult:
    """The post-job step of one cache step (the job succeeded)."""
    from tests.pipelines.runner import StepResult

    name = f"Post-job: {pending.display}"
    store = job.runner.cache_dir
    if pending.exact_hit or any(s[1] == pending.key for s in _stored(store)):
        return StepResult(name, "Succeeded", "Cache hit on the primary key: not saved.\n", 0)
    if not pending.path.is_dir():
        return StepResult(name, "Succeeded", f"##[warning]{pending.path} does not exist\n", 0)
    entry = _entry(store, pending.key)
    shutil.copytree(pending.path, entry / "content", symlinks=True)
    order = len(_stored(store)) + 1
    (entry / "key").write_text(f"{order}\n{pending.key}")
    return StepResult(name, "Succeeded", f"Cache saved under key {pending.key}\n", 0)
