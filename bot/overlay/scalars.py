"""Single-line YAML scalars in an overlay's source text: find their end, read and write them.

A replaced value keeps its quoting style; a plain value that would stop being a string under
YAML 1.2 or under the YAML 1.1 rules kustomize's Go parser follows in parts (`7.0`, `0.10`,
`1925512`, `true`, `yes`, `on`, `y`, `010`, `1:20`, `1_000`) is double-quoted.
"""

from __future__ import annotations

import functools
import json
import re

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from bot.errors import OverlayError


class SourceText:
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

    def scalar(self, start: int, *, flow: bool, what: str) -> str:
        """The string the single-line scalar starting at `start` stands for."""
        return unquote(self.text[start : self.scalar_end(start, flow=flow, what=what)])


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


def render(value: str, style: str) -> str:
    """`value` as a YAML scalar in the given style ("'", '"' or "" for plain when possible)."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not _plain_ok(value):
        return json.dumps(value, ensure_ascii=False)
    return value


def style_of(raw: str) -> str:
    """The quoting style of a scalar's source text: "'", '"' or "" (plain)."""
    return raw[0] if raw[:1] in ("'", '"') else ""


def still_a_string(raw: str) -> bool:
    """False for a plain scalar that YAML 1.1 or 1.2 reads as a number, bool, null or date
    (`newTag: yes`): setting the same value again quotes it so kustomize reads a string."""
    return raw[:1] in ("'", '"') or _plain_ok(raw)


def unquote(raw: str) -> str:
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
