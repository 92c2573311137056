"""Tag policies: which registry tag is the latest (like Flux's ImagePolicy, `internal/policy/`).

Each policy is a small frozen class with one method, `latest(tags) -> str | None`, validated at
construction and picked by `policy_from_spec()`. A `TagFilter(pattern, extract)` keeps only the
tags matching a regex and orders them by a value pulled out of them. There is deliberately no
"newest by push time" policy: the order comes from the tag itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from bot.core.semver import Range, Version


class TagPolicy(Protocol):
    """Chooses the latest tag of a list; tags it cannot order are ignored."""

    def latest(self, tags: Iterable[str]) -> str | None:
        """The latest acceptable tag, or None when no tag is acceptable."""
        ...


_TEMPLATE_REF = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class TagFilter:
    """A regex a tag must match, and a template pulling the value to order by out of it.

    `extract` uses `$name`, `${name}` or `$1` (like Flux's `filterTags.extract`); empty means
    the whole tag. Example: pattern `^(?P<ver>\\d+\\.\\d+\\.\\d+)-(?P<build>\\d+)-[0-9a-f]+$`
    with extract `$build` orders `0.1.0-42-abc1234` by 42.
    """

    pattern: str
    extract: str = ""
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            regex = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex {self.pattern!r}: {exc}") from exc
        for named, numbered in _TEMPLATE_REF.findall(self.extract):
            ref = named or numbered
            known = ref in regex.groupindex or (ref.isdigit() and int(ref) <= regex.groups)
            if not known:
                raise ValueError(f"extract {self.extract!r} refers to unknown group {ref!r}")
        object.__setattr__(self, "_regex", regex)

    def apply(self, tag: str) -> str | None:
        """The extracted value for `tag`, or None when the tag does not match."""
        match = self._regex.search(tag)
        if match is None:
            return None
        if not self.extract:
            return tag

        def group(ref: re.Match[str]) -> str:
            name = ref.group(1) or ref.group(2)
            value = match.group(int(name) if name.isdigit() else name)
            return value or ""

        return _TEMPLATE_REF.sub(group, self.extract)


def _filtered(tags: Iterable[str], tag_filter: TagFilter | None) -> Iterator[tuple[str, str]]:
    for tag in tags:
        value = tag if tag_filter is None else tag_filter.apply(tag)
        if value is not None:
            yield tag, value


def parse_range(text: str) -> Range:
    """An npm range (`>=1.0.0 <2.0.0`, `^1.2`, `1.x`); ValueError `invalid range '...'`."""
    try:
        return Range.parse(text)
    except ValueError:
        raise ValueError(f"invalid range {text!r}") from None


@dataclass(frozen=True)
class SemverPolicy:
    """Highest semantic version inside a range (npm syntax: `>=1.0.0 <2.0.0`, `^1.2`, `1.x`).

    A leading `v` is accepted; pre-releases only match when the range names them (npm rule).
    Ties between spellings of one version (`1.0.0`, `v1.0.0`) go to the greater tag string.
    """

    range: str
    tag_filter: TagFilter | None = None
    _range: Range = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_range", parse_range(self.range))

    def latest(self, tags: Iterable[str]) -> str | None:
        best: tuple[Any, str] | None = None
        for tag, value in _filtered(tags, self.tag_filter):
            try:
                version = Version.parse(value.removeprefix("v"))
            except ValueError:
                continue
            if not self._range.match(version):
                continue
            if best is None or (version.key, tag) > best:
                best = (version.key, tag)
        return None if best is None else best[1]


_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


@dataclass(frozen=True)
class NumericalPolicy:
    """Highest (or lowest, `order="desc"`) number, e.g. a CI build number pulled out by a filter."""

    order: Literal["asc", "desc"] = "asc"
    tag_filter: TagFilter | None = None

    def __post_init__(self) -> None:
        if self.order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {self.order!r}")

    def latest(self, tags: Iterable[str]) -> str | None:
        sign = 1 if self.order == "asc" else -1
        best: tuple[Decimal, str] | None = None
        for tag, value in _filtered(tags, self.tag_filter):
            if not _NUMBER.match(value):
                continue
            key = (Decimal(value) * sign, tag)
            if best is None or key > best:
                best = key
        return None if best is None else best[1]


def policy_from_spec(spec: Mapping[str, Any]) -> TagPolicy:
    """Build the tag policy a `tag_policy:` mapping of promotion.yaml describes.

    `{"semver": {"range": "^1"}}` or `{"numerical": {"order": "desc"}}`, each with an optional
    `"filter": {"pattern": ..., "extract": ...}`. Raises ValueError naming what is wrong.
    """
    kinds = [kind for kind in ("semver", "numerical") if spec.get(kind) is not None]
    if len(kinds) != 1:
        raise ValueError("give exactly one of 'semver' or 'numerical'")
    raw_filter = spec.get("filter")
    tag_filter = None if raw_filter is None else TagFilter(**raw_filter)
    if kinds == ["semver"]:
        return SemverPolicy(spec["semver"]["range"], tag_filter)
    return NumericalPolicy(spec["numerical"].get("order", "asc"), tag_filter)
