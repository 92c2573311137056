"""Read and edit the pins of a kustomization file, changing nothing but the pinned values.

How (Renovate's approach): parse with ruamel.yaml only to LOCATE each value (line/column
marks), replace exactly those characters in the original text, then re-parse the result and
check that the document equals the old one with just the intended changes. Comments, key
order, quoting, indentation, blank lines, CRLF line endings, `---` markers and a missing final
newline therefore stay byte-identical. A replaced value keeps its quoting style; a plain value
that would stop being a string under YAML 1.2 or under the YAML 1.1 rules kustomize's Go
parser follows in parts (`7.0`, `0.10`, `1925512`, `true`, `yes`, `on`, `y`, `010`, `1:20`,
`1_000`) is double-quoted.

What it edits (the overlay contract): `images[]` entries by `name` (`newName`, `newTag`,
`digest`) and `configMapGenerator[]` literals (`KEY=VALUE`) by generator name. Missing fields
are added after the entry's last line; as with `kustomize edit set image`, setting a tag
without a digest drops a pinned digest, and setting a digest without a tag drops the tag.

Refused with an `OverlayError` naming the file: not a Kustomization, malformed YAML, several
documents, unknown image or generator, values written as anchors/aliases/tags or multi-line
scalars (editing those would change other entries or cannot be done in place).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from bot.core.model import ImagePin, ModelPin
from bot.errors import OverlayError, UnknownGeneratorError, UnknownImageError

MODEL_NAME = "MODEL_NAME"
MODEL_VERSION = "MODEL_VERSION"
MODEL_SHA256 = "MODEL_SHA256"
_IMAGE_FIELDS = ("newName", "newTag", "digest")
_BOM = "\ufeff"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Change:
    """One value: `old` None means it was added, `new` None means it was removed."""

    field: str
    old: str | None
    new: str | None


@dataclass
class UpdateResult:
    """What an edit changed: file → object (`images[app]`, `configMapGenerator[pin]`) → changes.

    Like Flux's image-automation-controller result; the same value feeds commit messages, PR
    bodies and tests.
    """

    files: dict[str, dict[str, list[Change]]] = field(default_factory=dict)

    def add(self, file: str, obj: str, change: Change) -> None:
        self.files.setdefault(file, {}).setdefault(obj, []).append(change)

    def merge(self, other: UpdateResult) -> UpdateResult:
        for file, objects in other.files.items():
            for obj, changes in objects.items():
                for change in changes:
                    self.add(file, obj, change)
        return self

    @property
    def is_empty(self) -> bool:
        return not any(changes for objects in self.files.values() for changes in objects.values())

    def lines(self) -> list[str]:
        """`file: object.field: old -> new`, one line per change."""
        out = []
        for file, objects in self.files.items():
            for obj, changes in objects.items():
                for c in changes:
                    out.append(
                        f"{file}: {obj}.{c.field}: {c.old or '(none)'} -> {c.new or '(none)'}"
                    )
        return out


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ImageSet:
    """Set fields of the `images:` entry called `name`; None leaves a field as it is."""

    name: str
    new_name: str | None = None
    tag: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class LiteralSet:
    """Set `KEY=VALUE` in the literals of the configMapGenerator called `generator`."""

    generator: str
    key: str
    value: str


@dataclass(frozen=True)
class OverlayPins:
    """The pins read from an overlay (None when the entry is absent)."""

    image: ImagePin | None
    model: ModelPin | None
    literals: Mapping[str, str] = field(default_factory=dict)


def model_literals(generator: str, pin: ModelPin) -> list[LiteralSet]:
    """The three literals that pin a model version (overlay contract)."""
    return [
        LiteralSet(generator, MODEL_NAME, pin.name),
        LiteralSet(generator, MODEL_VERSION, str(pin.version)),
        LiteralSet(generator, MODEL_SHA256, pin.sha256),
    ]


def image_set(pin: ImagePin) -> ImageSet:
    """Pin an image exactly (new name, tag and digest)."""
    return ImageSet(pin.name, new_name=pin.new_name, tag=pin.tag, digest=pin.digest)


# --------------------------------------------------------------------------- text plumbing


class _Text:
    """The original text with line offsets (ruamel counts lines on `\\n`)."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.starts = [0]
        for match in re.finditer("\n", text):
            self.starts.append(match.end())
        self.newline = "\r\n" if "\r\n" in text else "\n"

    def offset(self, line: int, col: int) -> int:
        return self.starts[line] + col

    def line_span(self, line: int) -> tuple[int, int]:
        """(start, end) of a line including its line ending."""
        start = self.starts[line]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        return start, end

    def line_end(self, line: int) -> int:
        """Offset just before the line's line ending."""
        start, end = self.line_span(line)
        body = self.text[start:end]
        return start + len(body.rstrip("\r\n"))

    def _single_quoted_end(self, start: int, what: str) -> int:
        pos = start + 1
        while True:
            pos = self.text.find("'", pos)
            if pos < 0:  # pragma: no cover - the parser already refused an open quote
                raise OverlayError(self.path, f"{what}: unterminated quote")
            if self.text[pos + 1 : pos + 2] != "'":
                return pos + 1
            pos += 2

    def _double_quoted_end(self, start: int, what: str) -> int:
        pos = start + 1
        while pos < len(self.text) and self.text[pos] != '"':
            pos += 2 if self.text[pos] == "\\" else 1
        if pos >= len(self.text):  # pragma: no cover - the parser already refused an open quote
            raise OverlayError(self.path, f"{what}: unterminated quote")
        return pos + 1

    def scalar_end(self, start: int, *, flow: bool, what: str) -> int:
        """End offset of the single-line scalar starting at `start`."""
        text = self.text
        first = text[start : start + 1]
        if first in ("&", "*", "!"):
            raise OverlayError(self.path, f"{what} is written as a YAML anchor, alias or tag")
        if first in ("|", ">"):
            raise OverlayError(self.path, f"{what} is a multi-line block scalar")
        if first == "'":
            end = self._single_quoted_end(start, what)
        elif first == '"':
            end = self._double_quoted_end(start, what)
        else:
            stops = "\r\n,]}" if flow else "\r\n"
            end = start
            while end < len(text) and text[end] not in stops:
                if text[end] == "#" and text[end - 1] in " \t":
                    break
                end += 1
            while end > start and text[end - 1] in " \t":
                end -= 1
        if "\n" in text[start:end]:
            raise OverlayError(self.path, f"{what} spans several lines")
        return end


@functools.cache
def _safe_yaml() -> YAML:
    """One safe loader for the small scalar documents below (building one costs more than a
    parse). The bot reads and edits overlays on one thread; a YAML instance is not shared
    across threads."""
    return YAML(typ="safe", pure=True)


@functools.cache
def _resolver(version: tuple[int, int]) -> VersionedResolver:
    return VersionedResolver(version=version)


_STR_TAG = "tag:yaml.org,2002:str"
# Go's strconv.ParseInt(s, 0, 64), which go-yaml v2 uses for plain scalars, also takes
# upper-case base prefixes and `0o`; YAML 1.1/1.2 resolvers miss some of these.
_GO_INT = re.compile(r"[-+]?0[bBoOxX][0-9a-fA-F_]+")


def _resolves_to_str(value: str) -> bool:
    """True when a plain `value` is a string under YAML 1.1 and 1.2 resolution.

    Kustomize reads overlays with Go YAML libraries that follow YAML 1.1 in parts (`yes`,
    `on`, `y`, `010`, `1:20`, `1_000` are not strings there), ruamel.yaml follows 1.2.
    """
    if _GO_INT.fullmatch(value):
        return False
    for version in ((1, 1), (1, 2)):
        tag = _resolver(version).resolve(ScalarNode, value, (True, False))
        if str(tag) != _STR_TAG:
            return False
    return True


def _plain_ok(value: str) -> bool:
    """True when `value` written plain reads back as the same string, for ruamel.yaml and for
    kustomize alike."""
    if value != value.strip() or not _resolves_to_str(value):
        return False
    try:
        loaded = _safe_yaml().load(f"k: {value}\n")
    except YAMLError:
        return False
    return isinstance(loaded, dict) and loaded.get("k") == value


def _render(value: str, style: str) -> str:
    """`value` as a YAML scalar in the given style ("'", '"' or "" for plain when possible)."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not _plain_ok(value):
        return json.dumps(value, ensure_ascii=False)
    return value


def _still_a_string(raw: str) -> bool:
    """False for a plain scalar that YAML 1.1 or 1.2 reads as a number, bool, null or date
    (`newTag: yes`): setting the same value again quotes it so kustomize reads a string."""
    return raw[:1] in ("'", '"') or _plain_ok(raw)


def _unquote(raw: str) -> str:
    """The string a single-line scalar's source text `raw` stands for.

    A plain scalar is its own text (when YAML reads it as a number, bool, null or date the
    pin is still that text); a single-quoted one only escapes `'` as `''`; a double-quoted one
    without a backslash has no escapes. Only double-quoted text with escapes needs the parser.
    """
    quote = raw[:1]
    if quote not in ("'", '"'):
        return raw
    if quote == "'":
        return raw[1:-1].replace("''", "'")
    if "\\" not in raw:
        return raw[1:-1]
    loaded = _safe_yaml().load(f"k: {raw}\n")
    value = loaded["k"] if isinstance(loaded, dict) else None
    return value if isinstance(value, str) else raw


# --------------------------------------------------------------------------- parsing


def _parse(text: str, path: str) -> CommentedMap:
    try:
        docs = [d for d in YAML(typ="rt").load_all(text) if d is not None]
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


def _plain(text: str, path: str) -> Any:
    try:
        docs = [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]
    except YAMLError as exc:  # pragma: no cover - the edit produced invalid YAML: a bug
        raise OverlayError(path, f"edit produced invalid YAML: {exc}") from None
    return docs[0]


def _seq(doc: CommentedMap, key: str, path: str) -> CommentedSeq | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, CommentedSeq):
        raise OverlayError(path, f"{key} must be a list")
    return value


def _entries(doc: CommentedMap, key: str, path: str) -> list[tuple[int, CommentedMap]]:
    seq = _seq(doc, key, path)
    out = []
    for index, item in enumerate(seq or []):
        if not isinstance(item, CommentedMap):
            raise OverlayError(path, f"{key}[{index}] must be a mapping")
        out.append((index, item))
    return out


def _find(doc: CommentedMap, key: str, name: str, path: str) -> tuple[int, CommentedMap] | None:
    for index, item in _entries(doc, key, path):
        if item.get("name") == name:
            return index, item
    return None


def _names(doc: CommentedMap, key: str, path: str) -> list[str]:
    return [str(item.get("name")) for _, item in _entries(doc, key, path)]


# --------------------------------------------------------------------------- the editor


@dataclass
class _Edit:
    start: int
    end: int
    text: str


class _Editor:
    def __init__(self, text: str, path: str) -> None:
        self.src = _Text(text, path)
        self.path = path
        self.doc = _parse(text, path)
        self.edits: list[_Edit] = []
        self.changes: list[tuple[str, Change]] = []

    # -- locating

    def _raw(self, mapping: CommentedMap, key: str, flow: bool, what: str) -> tuple[int, int]:
        line, col = mapping.lc.value(key)
        start = self.src.offset(line, col)
        return start, self.src.scalar_end(start, flow=flow, what=what)

    def _item_span(self, seq: CommentedSeq, index: int, what: str) -> tuple[int, int]:
        line, col = seq.lc.item(index)
        start = self.src.offset(line, col)
        return start, self.src.scalar_end(start, flow=bool(seq.fa.flow_style()), what=what)

    # -- primitive edits

    def _replace(self, start: int, end: int, value: str) -> None:
        raw = self.src.text[start:end]
        style = raw[0] if raw[:1] in ("'", '"') else ""
        self.edits.append(_Edit(start, end, _render(value, style)))

    def _insert_key(self, mapping: CommentedMap, key: str, value: str, what: str) -> None:
        last = list(mapping.keys())[-1]
        line, col = mapping.lc.value(last)
        last_start = self.src.offset(line, col)
        flow = bool(mapping.fa.flow_style())
        last_end = self.src.scalar_end(last_start, flow=flow, what=what)
        rendered = f"{key}: {_render(value, '')}"
        if flow:
            self.edits.append(_Edit(last_end, last_end, f", {rendered}"))
            return
        first_col = mapping.lc.key(next(iter(mapping.keys())))[1]
        line_end = self.src.line_end(line)
        if line_end == len(self.src.text):  # last line, no final newline: keep it that way
            self.edits.append(
                _Edit(line_end, line_end, self.src.newline + " " * first_col + rendered)
            )
        else:
            eol = self.src.text[line_end : self.src.line_span(line)[1]]
            insert_at = self.src.line_span(line)[1]
            self.edits.append(_Edit(insert_at, insert_at, " " * first_col + rendered + eol))

    def _remove_key(self, mapping: CommentedMap, key: str, what: str) -> None:
        if mapping.fa.flow_style():
            raise OverlayError(self.path, f"cannot remove {what} from a flow-style mapping")
        key_line, key_col = mapping.lc.key(key)
        value_line, _ = mapping.lc.value(key)
        if key_line != value_line:
            raise OverlayError(self.path, f"cannot remove {what} in place")
        line_start = self.src.starts[key_line]
        if self.src.text[line_start : line_start + key_col].strip():
            # `- digest: x` (the first key shares its line with the `- `): the next key moves
            # up behind the dash, keeping its own line's bytes.
            keys = list(mapping.keys())
            if len(keys) < 2 or keys[0] != key:  # pragma: no cover - block keys start lines
                raise OverlayError(self.path, f"cannot remove {what} in place")
            next_line, next_col = mapping.lc.key(keys[1])
            if next_line != key_line + 1 or next_col != key_col:
                raise OverlayError(
                    self.path, f"cannot remove {what} in place (comment or gap after it)"
                )
            start = self.src.offset(key_line, key_col)
            self.edits.append(_Edit(start, self.src.offset(next_line, next_col), ""))
            return
        start, end = self.src.line_span(key_line)
        if end == len(self.src.text) and not self.src.text[start:end].endswith("\n"):
            start = self.src.line_end(key_line - 1)  # drop the newline before it instead
        self.edits.append(_Edit(start, end, ""))

    # -- requests

    def set_image(self, request: ImageSet) -> None:
        found = _find(self.doc, "images", request.name, self.path)
        if found is None:
            raise UnknownImageError(self.path, request.name, _names(self.doc, "images", self.path))
        index, entry = found
        obj = f"images[{request.name}]"
        wanted: dict[str, str | None] = {}
        if request.new_name is not None:
            wanted["newName"] = request.new_name
        if request.tag is not None:
            wanted["newTag"] = request.tag
            if request.digest is None:
                wanted["digest"] = None
        if request.digest is not None:
            wanted["digest"] = request.digest
            if request.tag is None:
                wanted["newTag"] = None
        flow = bool(entry.fa.flow_style())
        for key in _IMAGE_FIELDS:
            if key not in wanted:
                continue
            new = wanted[key]
            what = f"images[{index}].{key}"
            if key in entry:
                start, end = self._raw(entry, key, flow, what)
                old = _unquote(self.src.text[start:end])
                if new is None:
                    self._remove_key(entry, key, what)
                    self.changes.append((obj, Change(key, old, None)))
                elif old != new or not _still_a_string(self.src.text[start:end]):
                    self._replace(start, end, new)
                    self.changes.append((obj, Change(key, old, new)))
            elif new is not None:
                self._insert_key(entry, key, new, what)
                self.changes.append((obj, Change(key, None, new)))

    def set_literals(self, generator: str, items: Sequence[LiteralSet]) -> None:
        found = _find(self.doc, "configMapGenerator", generator, self.path)
        if found is None:
            known = _names(self.doc, "configMapGenerator", self.path)
            raise UnknownGeneratorError(self.path, generator, known)
        index, entry = found
        obj = f"configMapGenerator[{generator}]"
        literals = entry.get("literals")
        if not isinstance(literals, CommentedSeq):
            raise OverlayError(
                self.path, f"configMapGenerator[{index}] ({generator}) has no literals list"
            )
        positions: dict[str, int] = {}
        for i, item in enumerate(literals):
            if not isinstance(item, str) or "=" not in item:
                raise OverlayError(
                    self.path, f"configMapGenerator[{index}].literals[{i}] is not KEY=VALUE"
                )
            positions.setdefault(item.split("=", 1)[0], i)
        appended: list[str] = []
        for request in items:
            what = f"configMapGenerator[{index}].literals"
            text = f"{request.key}={request.value}"
            if request.key in positions:
                i = positions[request.key]
                old = str(literals[i]).split("=", 1)[1]
                if old != request.value:
                    start, end = self._item_span(literals, i, f"{what}[{i}]")
                    self._replace(start, end, text)
                    self.changes.append((obj, Change(request.key, old, request.value)))
            else:
                appended.append(text)
                positions[request.key] = -1
                self.changes.append((obj, Change(request.key, None, request.value)))
        if appended:
            self._append_items(literals, appended, f"configMapGenerator[{index}].literals")

    def _append_items(self, seq: CommentedSeq, items: list[str], what: str) -> None:
        if len(seq) == 0:
            raise OverlayError(self.path, f"{what} is empty: add the first literal by hand")
        last = len(seq) - 1
        start, end = self._item_span(seq, last, f"{what}[{last}]")
        raw = self.src.text[start:end]
        style = raw[0] if raw[:1] in ("'", '"') else ""
        if seq.fa.flow_style():
            text = "".join(f", {_render(item, style)}" for item in items)
            self.edits.append(_Edit(end, end, text))
            return
        line, col = seq.lc.item(last)
        line_start = self.src.starts[line]
        prefix = self.src.text[line_start : line_start + col]
        if not re.fullmatch(r"[ \t]*-[ \t]+", prefix):
            raise OverlayError(self.path, f"cannot append to {what}: unusual layout")
        rendered = [prefix + _render(item, style) for item in items]
        line_end = self.src.line_end(line)
        if line_end == len(self.src.text):
            text = "".join(self.src.newline + r for r in rendered)
            self.edits.append(_Edit(line_end, line_end, text))
        else:
            span_end = self.src.line_span(line)[1]
            eol = self.src.text[line_end:span_end]
            self.edits.append(_Edit(span_end, span_end, "".join(r + eol for r in rendered)))

    # -- result

    def result(self) -> str:
        text = self.src.text
        ordered = sorted(self.edits, key=lambda e: (e.start, e.end))
        for before, after in itertools.pairwise(ordered):
            if after.start < before.end:  # pragma: no cover - _refuse_repeats: one edit a field
                raise OverlayError(self.path, "overlapping edits")
        for edit in reversed(ordered):
            text = text[: edit.start] + edit.text + text[edit.end :]
        return text


def _expected(old: Any, images: Sequence[ImageSet], literals: Sequence[LiteralSet]) -> Any:
    """The plain data the edited text must load as."""
    data = copy.deepcopy(old)
    for request in images:
        entry = next(e for e in data["images"] if e.get("name") == request.name)
        if request.new_name is not None:
            entry["newName"] = request.new_name
        if request.tag is not None:
            entry["newTag"] = request.tag
            if request.digest is None:
                entry.pop("digest", None)
        if request.digest is not None:
            entry["digest"] = request.digest
            if request.tag is None:
                entry.pop("newTag", None)
    for lit in literals:
        gen = next(g for g in data["configMapGenerator"] if g.get("name") == lit.generator)
        items = gen["literals"]
        for i, item in enumerate(items):
            if str(item).split("=", 1)[0] == lit.key:
                items[i] = f"{lit.key}={lit.value}"
                break
        else:
            items.append(f"{lit.key}={lit.value}")
    return data


def _refuse_repeats(images: Sequence[ImageSet], literals: Sequence[LiteralSet]) -> None:
    """One request per image and per literal: two would edit the same characters."""
    names = [r.name for r in images]
    keys = [(lit.generator, lit.key) for lit in literals]
    repeated = sorted({n for n in names if names.count(n) > 1}) + sorted(
        {f"{g}:{k}" for g, k in keys if keys.count((g, k)) > 1}
    )
    if repeated:
        raise ValueError(f"repeated edit requests for {', '.join(repeated)}")


# --------------------------------------------------------------------------- public API


def edit_text(
    text: str,
    *,
    images: Sequence[ImageSet] = (),
    literals: Sequence[LiteralSet] = (),
    path: str = "kustomization.yaml",
) -> tuple[str, UpdateResult]:
    """Apply the requests to a kustomization's text; pure. Returns (new text, what changed)."""
    _refuse_repeats(images, literals)
    bom = text.startswith(_BOM)
    body = text[1:] if bom else text
    if re.search("\r(?!\n)", body):
        raise OverlayError(path, "bare CR line endings are not supported")
    editor = _Editor(body, path)
    for request in images:
        editor.set_image(request)
    by_generator: dict[str, list[LiteralSet]] = {}
    for lit in literals:
        by_generator.setdefault(lit.generator, []).append(lit)
    for generator, items in by_generator.items():
        editor.set_literals(generator, items)
    result = UpdateResult()
    for obj, change in editor.changes:
        result.add(path, obj, change)
    if result.is_empty:
        return text, result
    new_body = editor.result()
    # Re-parse: the document must be the old one with exactly these changes.
    _parse(new_body, path)
    if _plain(new_body, path) != _expected(_plain(body, path), images, literals):
        raise OverlayError(path, "the edit did not round-trip (please report this file)")
    return (_BOM if bom else "") + new_body, result


def set_pins(
    path: Path,
    *,
    images: Sequence[ImageSet] = (),
    literals: Sequence[LiteralSet] = (),
    display: str | None = None,
) -> UpdateResult:
    """Edit a kustomization file in place (atomically; untouched when nothing changes).

    `display` is the name used in errors and in the result (e.g. the repo-relative path).
    """
    name = display or str(path)
    text = _read(path, name)
    new_text, result = edit_text(text, images=images, literals=literals, path=name)
    if not result.is_empty:
        _write_atomic(path, new_text)
    return result


def read_pins_text(
    text: str, image_name: str, model_pin: str = "model-pin", path: str = "kustomization.yaml"
) -> OverlayPins:
    """The image pin and model pin of a kustomization's text (None where absent)."""
    body = text.removeprefix(_BOM)
    src = _Text(body, path)
    doc = _parse(body, path)
    image = None
    found = _find(doc, "images", image_name, path)
    if found is not None:
        index, entry = found
        values: dict[str, str | None] = {}
        for key in _IMAGE_FIELDS:
            if key in entry:
                line, col = entry.lc.value(key)
                start = src.offset(line, col)
                what = f"images[{index}].{key}"
                end = src.scalar_end(start, flow=bool(entry.fa.flow_style()), what=what)
                values[key] = _unquote(body[start:end])
            else:
                values[key] = None
        image = ImagePin(image_name, values["newName"], values["newTag"], values["digest"])
    literals: dict[str, str] = {}
    model = None
    gen = _find(doc, "configMapGenerator", model_pin, path)
    if gen is not None:
        for item in gen[1].get("literals") or []:
            key, _, value = str(item).partition("=")
            literals.setdefault(key, value)
        model = _model_pin(literals, path, model_pin)
    return OverlayPins(image=image, model=model, literals=literals)


def read_pins(
    path: Path, image_name: str, model_pin: str = "model-pin", display: str | None = None
) -> OverlayPins:
    name = display or str(path)
    return read_pins_text(_read(path, name), image_name, model_pin, name)


def promotion_edits(
    image: ImagePin | None, model: ModelPin | None, model_pin: str = "model-pin"
) -> tuple[list[ImageSet], list[LiteralSet]]:
    """The requests that pin `image` and/or `model` (e.g. a Promotion's `after` values)."""
    images = [image_set(image)] if image is not None else []
    literals = model_literals(model_pin, model) if model is not None else []
    return images, literals


def _model_pin(literals: Mapping[str, str], path: str, generator: str) -> ModelPin | None:
    keys = (MODEL_NAME, MODEL_VERSION, MODEL_SHA256)
    present = [k for k in keys if k in literals]
    if not present:
        return None
    missing = [k for k in keys if k not in literals]
    if missing:
        raise OverlayError(path, f"configMapGenerator {generator} lacks {', '.join(missing)}")
    version = literals[MODEL_VERSION]
    if not version.isdigit():
        raise OverlayError(path, f"{MODEL_VERSION}={version} is not a version number")
    return ModelPin(literals[MODEL_NAME], int(version), literals[MODEL_SHA256])


def _read(path: Path, name: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise OverlayError(name, "no such file") from None
    except UnicodeDecodeError:
        raise OverlayError(name, "not UTF-8 text") from None
    except OSError as exc:
        raise OverlayError(name, f"cannot read: {exc.strerror or exc}") from None


def _write_atomic(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777
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


def changed_files(results: Iterable[UpdateResult]) -> list[str]:
    """Files touched by any of the results, in order."""
    seen: dict[str, None] = {}
    for result in results:
        for file, objects in result.files.items():
            if any(objects.values()):
                seen[file] = None
    return list(seen)
