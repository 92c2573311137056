"""Parse a kustomization file (one mapping, no anchors or aliases) and find its entries.

Anchors and aliases are refused while composing, before anything is built: they have no place
in an overlay's pins, and an alias bomb (nested aliases, `a: &a [x, x]`, `b: &b [*a, *a]`, ...)
would otherwise make every later comparison of the document exponential in its depth.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent

from bot.errors import OverlayError

BOM = "\ufeff"


class AnchorError(Exception):
    """An anchor (`&name`) or alias (`*name`) in an overlay; names the field and the line."""

    def __init__(self, where: str, token: str, line: int) -> None:
        super().__init__(
            f"{where} is written as a YAML anchor, alias or tag (line {line}: {token}); "
            "anchors and aliases have no place in an overlay"
        )
        self.where = where
        self.token = token
        self.line = line


class _NoAnchorComposer(Composer):
    """ruamel's composer, refusing the first anchor or alias it meets (with its path)."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader=loader)
        self._path: list[str] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        if parent is None:
            step = ""
        elif index is None:  # a mapping key
            step = ".(key)"
        elif isinstance(index, int):
            step = f"[{index}]"
        else:
            step = f".{getattr(index, 'value', '?')}"
        event = self.parser.peek_event()
        alias = isinstance(event, AliasEvent)
        if alias or event.anchor is not None:
            where = ("".join([*self._path, step])).lstrip(".") or "(document)"
            token = f"{'alias *' if alias else 'anchor &'}{event.anchor}"
            raise AnchorError(where, token, event.start_mark.line + 1)
        self._path.append(step)
        try:
            return super().compose_node(parent, index)
        finally:
            self._path.pop()


def yaml_loader(typ: str) -> YAML:
    """A ruamel loader (`rt` or pure `safe`) that raises `AnchorError` on anchors and aliases."""
    yaml = YAML(typ=typ, pure=True)
    yaml.Composer = _NoAnchorComposer
    return yaml


def parse(text: str, path: str) -> CommentedMap:
    """The round-trip document of a kustomization's text; `OverlayError` naming `path` when it
    is not one Kustomization (or Component) mapping without anchors."""
    try:
        docs = [d for d in yaml_loader("rt").load_all(text) if d is not None]
    except AnchorError as exc:
        raise OverlayError(path, str(exc)) from None
    except YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise OverlayError(path, f"malformed YAML: {detail}") from None
    if not docs:
        raise OverlayError(path, "empty file: not a Kustomization")
    if len(docs) > 1:
        raise OverlayError(path, f"{len(docs)} YAML documents: a kustomization file has one")
    doc = docs[0]
    if not isinstance(doc, CommentedMap):
        raise OverlayError(path, "not a Kustomization (the document is not a mapping)")
    kind = doc.get("kind")
    api = doc.get("apiVersion")
    if kind is not None and kind not in ("Kustomization", "Component"):
        raise OverlayError(path, f"not a Kustomization (kind: {kind})")
    if api is not None and not str(api).startswith("kustomize.config.k8s.io/"):
        raise OverlayError(path, f"not a Kustomization (apiVersion: {api})")
    return doc


def load_plain(text: str, path: str) -> Any:
    """The plain data of a text `parse` accepted (dicts, lists, scalars)."""
    try:
        docs = [d for d in yaml_loader("safe").load_all(text) if d is not None]
    except (YAMLError, AnchorError) as exc:  # pragma: no cover - the edit broke the YAML: a bug
        raise OverlayError(path, f"the edit broke the YAML: {exc}") from None
    return docs[0]


def _seq(doc: CommentedMap, key: str, path: str) -> CommentedSeq | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, CommentedSeq):
        raise OverlayError(path, f"{key} must be a list")
    return value


def entries(doc: CommentedMap, key: str, path: str) -> list[tuple[int, CommentedMap]]:
    """(index, entry) of the list under `key` (`images`, `configMapGenerator`)."""
    seq = _seq(doc, key, path)
    out = []
    for index, item in enumerate(seq or []):
        if not isinstance(item, CommentedMap):
            raise OverlayError(path, f"{key}[{index}] must be a mapping")
        out.append((index, item))
    return out


def find(doc: CommentedMap, key: str, name: str, path: str) -> tuple[int, CommentedMap] | None:
    """The first entry of the list under `key` whose `name` is `name`."""
    for index, item in entries(doc, key, path):
        if item.get("name") == name:
            return index, item
    return None


def names(doc: CommentedMap, key: str, path: str) -> list[str]:
    return [str(item.get("name")) for _, item in entries(doc, key, path)]


def read_text(path: Path, name: str) -> str:
    """A kustomization file's text; `OverlayError` naming `name` when unreadable."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise OverlayError(name, "no such file") from None
    except UnicodeDecodeError:
        raise OverlayError(name, "not UTF-8 text") from None
    except OSError as exc:
        raise OverlayError(name, f"cannot read: {exc.strerror or exc}") from None


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (same mode; a new file 0644) in one rename: never
    half-written."""
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
