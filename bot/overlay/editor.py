"""The byte-preserving kustomization editor (Renovate's approach).

Parse with ruamel.yaml only to LOCATE each value (line/column marks), replace exactly those
characters in the original text, then re-parse the result and check that the document equals
the old one with just the intended changes. Comments, key order, quoting, indentation, blank
lines, CRLF line endings, `---` markers and a missing final newline therefore stay
byte-identical.

What it edits: `images[]` entries by `name` (`newName`, `newTag`, `digest`) and
`configMapGenerator[]` literals (`KEY=VALUE`) by generator name. Missing fields are added after
the entry's last line; as with `kustomize edit set image`, setting a tag without a digest drops
a pinned digest, and setting a digest without a tag drops the tag.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.errors import OverlayError, UnknownGeneratorError, UnknownImageError
from bot.overlay.changes import Change, ImageSet, LiteralSet, UpdateResult
from bot.overlay.document import BOM, find, load_plain, names, parse
from bot.overlay.pins import IMAGE_FIELDS
from bot.overlay.scalars import SourceText, render, still_a_string, style_of, unquote


@dataclass
class _Edit:
    start: int
    end: int
    text: str


class _Editor:
    def __init__(self, text: str, path: str) -> None:
        self.src = SourceText(text, path)
        self.path = path
        self.doc = parse(text, path)
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
        style = style_of(raw)
        self.edits.append(_Edit(start, end, render(value, style)))

    def _insert_key(self, mapping: CommentedMap, key: str, value: str, what: str) -> None:
        last = list(mapping.keys())[-1]
        line, col = mapping.lc.value(last)
        last_start = self.src.offset(line, col)
        flow = bool(mapping.fa.flow_style())
        last_end = self.src.scalar_end(last_start, flow=flow, what=what)
        rendered = f"{key}: {render(value, '')}"
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
        found = find(self.doc, "images", request.name, self.path)
        if found is None:
            raise UnknownImageError(self.path, request.name, names(self.doc, "images", self.path))
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
        for key in IMAGE_FIELDS:
            if key not in wanted:
                continue
            new = wanted[key]
            what = f"images[{index}].{key}"
            if key in entry:
                start, end = self._raw(entry, key, flow, what)
                old = unquote(self.src.text[start:end])
                if new is None:
                    self._remove_key(entry, key, what)
                    self.changes.append((obj, Change(key, old, None)))
                elif old != new or not still_a_string(self.src.text[start:end]):
                    self._replace(start, end, new)
                    self.changes.append((obj, Change(key, old, new)))
            elif new is not None:
                self._insert_key(entry, key, new, what)
                self.changes.append((obj, Change(key, None, new)))

    def set_literals(self, generator: str, items: Sequence[LiteralSet]) -> None:
        found = find(self.doc, "configMapGenerator", generator, self.path)
        if found is None:
            known = names(self.doc, "configMapGenerator", self.path)
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
        style = style_of(raw)
        if seq.fa.flow_style():
            text = "".join(f", {render(item, style)}" for item in items)
            self.edits.append(_Edit(end, end, text))
            return
        line, col = seq.lc.item(last)
        line_start = self.src.starts[line]
        prefix = self.src.text[line_start : line_start + col]
        if not re.fullmatch(r"[ \t]*-[ \t]+", prefix):
            raise OverlayError(self.path, f"cannot append to {what}: unusual layout")
        rendered = [prefix + render(item, style) for item in items]
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
    image_names = [r.name for r in images]
    keys = [(lit.generator, lit.key) for lit in literals]
    repeated = sorted({n for n in image_names if image_names.count(n) > 1}) + sorted(
        {f"{g}:{k}" for g, k in keys if keys.count((g, k)) > 1}
    )
    if repeated:
        raise ValueError(f"repeated edit requests for {', '.join(repeated)}")


def edit_text(
    text: str,
    *,
    images: Sequence[ImageSet] = (),
    literals: Sequence[LiteralSet] = (),
    path: str = "kustomization.yaml",
) -> tuple[str, UpdateResult]:
    """Apply the requests to a kustomization's text; pure. Returns (new text, what changed)."""
    _refuse_repeats(images, literals)
    bom = text.startswith(BOM)
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
    parse(new_body, path)
    if load_plain(new_body, path) != _expected(load_plain(body, path), images, literals):
        raise OverlayError(path, "the edit did not round-trip (please report this file)")
    return (BOM if bom else "") + new_body, result
