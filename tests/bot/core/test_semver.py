"""bot.core.semver agrees with semantic_version.NpmSpec (what the policy used before the core
had to be import-pure) on generated ranges and versions; plus the edges it refuses."""

from __future__ import annotations

import pytest
import semantic_version
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.semver import Range, Version

PRERELEASES = ["", "-rc.1", "-rc.2", "-alpha", "-0", "-1", "-beta.11", "-rc.1.x"]
NUMBERS = ["0", "1", "2", "3"]


@st.composite
def versions(draw: st.DrawFn) -> str:
    core = ".".join(draw(st.sampled_from(NUMBERS)) for _ in range(3))
    return core + draw(st.sampled_from(PRERELEASES))


@st.composite
def partials(draw: st.DrawFn) -> str:
    parts = [draw(st.sampled_from([*NUMBERS, "x", "*", "X"]))]
    for _ in range(draw(st.integers(0, 2))):
        parts.append(draw(st.sampled_from([*NUMBERS, "x"])))
    text = ".".join(parts)
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        text += draw(st.sampled_from(PRERELEASES))
    return text


@st.composite
def ranges(draw: st.DrawFn) -> str:
    groups = []
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.booleans()) and draw(st.booleans()):
            groups.append(f"{draw(partials())} - {draw(partials())}")
            continue
        blocks = [
            draw(st.sampled_from(["", "v", "=", ">", ">=", "<", "<=", "^", "~", "v^"]))
            + draw(partials())
            for _ in range(draw(st.integers(1, 2)))
        ]
        groups.append(" ".join(blocks))
    return " || ".join(groups)


def _reference(text: str) -> semantic_version.NpmSpec | None:
    try:
        return semantic_version.NpmSpec(text)
    except ValueError:
        return None


@settings(max_examples=400, deadline=None)
@given(text=ranges(), tags=st.lists(versions(), min_size=1, max_size=6))
def test_ranges_match_like_semantic_version(text: str, tags: list[str]):
    reference = _reference(text)
    if reference is None:
        with pytest.raises(ValueError):
            Range.parse(text)
        return
    ours = Range.parse(text)
    for tag in tags:
        expected = reference.match(semantic_version.Version(tag))
        assert ours.match(Version.parse(tag)) == expected, (text, tag)


@settings(max_examples=200, deadline=None)
@given(a=versions(), b=versions())
def test_precedence_like_semantic_version(a: str, b: str):
    ref_a, ref_b = semantic_version.Version(a), semantic_version.Version(b)
    ours_a, ours_b = Version.parse(a), Version.parse(b)
    assert (ours_a.key < ours_b.key) == (ref_a < ref_b)
    assert (ours_a.key == ours_b.key) == (ref_a == ref_b)


@pytest.mark.parametrize(
    ("text", "version", "expected"),
    [
        ("1.2.3+build.5", "1.2.3+build.5", True),  # an exact version with a build matches it
        ("1.2.3+build.5", "1.2.3", False),
        ("1.2.3", "1.2.3+build.5", True),  # builds are ignored otherwise
        ("~1.2.0-beta", "1.2.0-beta", True),
        ("~1.2.0-beta", "1.2.0", True),
        ("~1.2.0-beta", "1.2.1", False),  # the library's quirk (npm says <1.3.0-0), kept
        ("^0.0.3", "0.0.3", True),
        ("^0.0.3", "0.0.4", False),
        ("^0.2", "0.2.9", True),
        ("^0.2", "0.3.0", False),
        ("", "4.0.0", True),
        ("1.2.3 - 2", "2.9.9", True),
        ("1.x.0", "1.0.1", True),
    ],
)
def test_range_edges(text: str, version: str, expected: bool):
    assert Range.parse(text).match(Version.parse(version)) is expected
    assert semantic_version.NpmSpec(text).match(semantic_version.Version(version)) is expected


@pytest.mark.parametrize(
    "text",
    [
        "1.2.3 - 2.0.0 - 3.0.0",
        "1.2.3 - foo",
        ">=1.x.",
        "^*",
        "1.x-rc",
        "1.2.3-a..b",
        "1.2.3-01",
        "1.2.3+a..b",
        ">=1.2.3  <2.0.0",
        ">=v1.0.0",
        "*/2",
    ],
)
def test_invalid_ranges_are_refused(text: str):
    with pytest.raises(ValueError):
        Range.parse(text)


@pytest.mark.parametrize("text", ["1.2", "01.2.3", "1.2.3-", "1.2.3-01", "v1.2.3", "1.2.3+"])
def test_invalid_versions_are_refused(text: str):
    with pytest.raises(ValueError, match=r"invalid version|identifier"):
        Version.parse(text)


def test_version_keeps_its_build_out_of_precedence():
    version = Version.parse("1.2.3-rc.1+exp.sha.5114f85")
    assert version.build == ("exp", "sha", "5114f85")
    assert version.key == Version.parse("1.2.3-rc.1").key
    assert version.release == Version(1, 2, 3)
