"""Semantic versions and npm-style ranges, in the standard library only.

The rules are those of `semantic_version.NpmSpec` (which the policy used before the core had to
be import-pure), clause for clause; tests/bot/core/test_semver.py checks both agree on generated
ranges and versions. Syntax: `>=1.0.0 <2.0.0`, `^1.2`, `~1.2.3`, `1.x`, `*`, `1.2.3 - 2.3`, `||`.
A pre-release only matches a range whose comparator names the same `major.minor.patch` with a
pre-release (the npm rule): `>=1.3.0-0` accepts `1.3.0-rc.1`, `^1.2` does not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

_VERSION = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9a-zA-Z.-]+))?(?:\+([0-9a-zA-Z.-]+))?$"
)
_NUMBER = r"x|X|\*|0|[1-9][0-9]*"
_PART = r"[a-zA-Z0-9.-]*"
_BLOCK = re.compile(
    rf"^(?:v)?(?P<op><|<=|>=|>|=|\^|~|)"
    rf"(?P<major>{_NUMBER})(?:\.(?P<minor>{_NUMBER})(?:\.(?P<patch>{_NUMBER}))?)?"
    rf"(?:-(?P<prerel>{_PART}))?(?:\+(?P<build>{_PART}))?$"
)
_ANY = ("*", "x", "X", None)


def _identifiers(text: str | None, *, leading_zeros: bool) -> tuple[str, ...]:
    if not text:
        return ()
    parts = tuple(text.split("."))
    for part in parts:
        if not part:
            raise ValueError(f"empty identifier in {text!r}")
        if not leading_zeros and part.isdigit() and part != "0" and part.startswith("0"):
            raise ValueError(f"leading zero in identifier {part!r}")
    return parts


@dataclass(frozen=True)
class Version:
    """`major.minor.patch[-prerelease][+build]`; ordered by semver precedence (build ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(text)
        if match is None:
            raise ValueError(f"invalid version {text!r}")
        major, minor, patch, pre, build = match.groups()
        return cls(
            int(major),
            int(minor),
            int(patch),
            _identifiers(pre, leading_zeros=False),
            _identifiers(build, leading_zeros=True),
        )

    @property
    def key(self) -> tuple[int, int, int, tuple[tuple[int, int, str], ...]]:
        """Precedence: a release sorts after its pre-releases; numeric identifiers before
        alphanumeric ones; a longer pre-release after its prefix."""
        if not self.prerelease:
            return (self.major, self.minor, self.patch, ((2, 0, ""),))
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, pre)

    @property
    def release(self) -> Version:
        """The same `major.minor.patch` without pre-release or build."""
        return Version(self.major, self.minor, self.patch)


_Op = Literal["==", ">", ">=", "<", "<="]


@dataclass(frozen=True)
class _Comparator:
    """One `op target` test. `same_patch`: a pre-release version only passes when its
    `major.minor.patch` equals the target's (otherwise pre-releases pass like any version)."""

    op: _Op
    target: Version
    same_patch: bool = True

    def match(self, version: Version) -> bool:
        if not self.target.build:
            version = Version(version.major, version.minor, version.patch, version.prerelease)
        if version.prerelease and self.same_patch and self.target.release != version.release:
            return False
        if self.op == "==":
            return version == self.target if self.target.build else version.key == self.target.key
        left, right = version.key, self.target.key
        return {
            ">": left > right,
            ">=": left >= right,
            "<": left < right,
            "<=": left <= right,
        }[self.op]


def _next_major(v: Version) -> Version:
    return Version(v.major + 1, 0, 0)


def _next_minor(v: Version) -> Version:
    if v.prerelease and v.patch == 0:
        return Version(v.major, v.minor, 0)
    return Version(v.major, v.minor + 1, 0)


_EXACT: dict[str, _Op] = {"=": "==", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def _caret_high(target: Version, minor: int | None, patch: int | None) -> Version:
    """`^1.2.3` < 2.0.0, `^0.2.3` < 0.3.0, `^0.0.3` < 0.0.4, `^0.x` < 1.0.0, `^0.0.x` < 0.1.0."""
    release = target.release
    if release.major or minor is None:
        return _next_major(release)
    if release.minor or patch is None:
        return _next_minor(release)
    return Version(release.major, release.minor, release.patch + 1)


def _simple(block: str) -> list[_Comparator]:
    """One comparator block (`^1.2`, `>=1.0.0-rc.1`, `1.x`, ...) as comparators."""
    match = _BLOCK.match(block)
    if match is None:
        raise ValueError(f"invalid comparator {block!r}")
    op, major_t, minor_t, patch_t, pre, build = match.groups()
    major = None if major_t in _ANY else int(major_t)
    minor = None if minor_t in _ANY or major is None else int(minor_t)
    patch = None if patch_t in _ANY or minor is None else int(patch_t)  # `1.x.0` is `1.x`
    op = op or "="
    build = build if op == "=" else None  # a build only matters for an exact version
    if patch is None and (pre or build):
        raise ValueError(f"a partial version cannot carry a pre-release or build: {block!r}")
    if major is None:
        if op not in ("=", ">="):
            raise ValueError(f"invalid comparator {block!r}")
        return [_Comparator(">=", Version(0, 0, 0))]
    target = Version(
        major,
        minor or 0,
        patch or 0,
        _identifiers(pre, leading_zeros=False),
        _identifiers(build, leading_zeros=True),
    )
    high = _next_major(target) if minor is None else _next_minor(target)
    if op == "^":
        return [_Comparator(">=", target), _Comparator("<", _caret_high(target, minor, patch))]
    if op == "~":
        return [_Comparator(">=", target), _Comparator("<", high)]
    if patch is not None:
        return [_Comparator(_EXACT[op], target)]
    partial: dict[str, list[_Comparator]] = {
        "=": [_Comparator(">=", target), _Comparator("<", high)],
        ">": [_Comparator(">=", high)],
        ">=": [_Comparator(">=", target)],
        "<": [_Comparator("<", target)],
        "<=": [_Comparator("<", high)],
    }
    return partial[op]


def _group(group: str) -> list[list[_Comparator]]:
    """One `||` alternative as comparator sets (all of one set must match)."""
    group = group.strip() or ">=0.0.0"
    if " - " in group:
        parts = group.split(" - ")
        if len(parts) != 2:
            raise ValueError(f"invalid hyphen range {group!r}")
        comparators = _simple(">=" + parts[0]) + _simple("<=" + parts[1])
    else:
        comparators = [c for block in group.split(" ") for c in _simple(block)]
    pre_sets: list[_Comparator] = []
    release_set: list[_Comparator] = []
    for comp in comparators:
        target = comp.target
        if not target.prerelease:
            release_set.append(comp)
            continue
        if comp.op in (">", ">="):
            high = Version(target.major, target.minor, target.patch + 1)
            pre_sets.append(_Comparator("<", high, same_patch=False))
        elif comp.op in ("<", "<="):
            low = Version(target.major, target.minor, 0)
            pre_sets.append(_Comparator(">=", low, same_patch=False))
        pre_sets.append(comp)
        release_set.append(_Comparator(comp.op, target.release))
    return [pre_sets, release_set] if pre_sets else [release_set]


@dataclass(frozen=True)
class Range:
    """An npm range; `Range.parse(text)` raises ValueError naming what does not parse."""

    text: str
    sets: tuple[tuple[_Comparator, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Range:
        sets: list[Sequence[_Comparator]] = []
        for group in text.split("||"):
            sets.extend(_group(group))
        return cls(text, tuple(tuple(s) for s in sets))

    def match(self, version: Version) -> bool:
        return any(all(c.match(version) for c in comparators) for comparators in self.sets)
