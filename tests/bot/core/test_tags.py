"""Tag policies built from the `tag_policy:` mapping of promotion.yaml (bot.core.tags)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.tags import NumericalPolicy, SemverPolicy, TagFilter, policy_from_spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"semver": {"range": "^1"}}, SemverPolicy("^1")),
        ({"numerical": {}}, NumericalPolicy()),
        ({"numerical": {"order": "desc"}}, NumericalPolicy("desc")),
        (
            {"numerical": {"order": "asc"}, "filter": {"pattern": r"^b(\d+)$", "extract": "$1"}},
            NumericalPolicy("asc", TagFilter(r"^b(\d+)$", "$1")),
        ),
        (
            {"semver": {"range": "*"}, "filter": {"pattern": "^v"}, "numerical": None},
            SemverPolicy("*", TagFilter("^v")),
        ),
    ],
)
def test_policy_from_spec_builds_the_policy_the_mapping_names(spec: dict[str, Any], expected):
    assert policy_from_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "give exactly one of 'semver' or 'numerical'"),
        ({"semver": {"range": "*"}, "numerical": {}}, "give exactly one"),
        ({"semver": {"range": ">=1.x."}}, "invalid range '>=1.x.'"),
        ({"numerical": {"order": "up"}}, "order must be 'asc' or 'desc'"),
        ({"numerical": {}, "filter": {"pattern": "("}}, "invalid regex"),
    ],
)
def test_policy_from_spec_refuses_a_bad_mapping(spec: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=message):
        policy_from_spec(spec)


def test_equal_specs_build_equal_policies_whose_compiled_parts_do_not_count():
    assert SemverPolicy(">=1.0.0") == SemverPolicy(">=1.0.0")
    assert SemverPolicy(">=1.0.0") != SemverPolicy(">=1.0.1")
    assert TagFilter("^a") == TagFilter("^a") != TagFilter("^b")


@pytest.mark.parametrize(
    ("policy", "tags", "expected"),
    [
        (SemverPolicy(">=1.0.0"), ["latest", "1.0", "v2.0.0", "0.9.0"], "v2.0.0"),
        (SemverPolicy("<1.0.0"), ["1.0.0", "2.0.0"], None),
        (SemverPolicy("*"), ["2.0.0", "1.0.0"], "2.0.0"),
        (NumericalPolicy(tag_filter=TagFilter(r"^\d+$")), ["12", "x", "3"], "12"),
        (NumericalPolicy(), ["x", "1.2.3", "7"], "7"),
        (NumericalPolicy(tag_filter=TagFilter(r"^b(\d+)?$", "$1")), ["b", "b3"], "b3"),
    ],
)
def test_latest_skips_tags_it_cannot_order(policy, tags, expected):
    assert policy.latest(tags) == expected


@pytest.mark.parametrize(
    ("pattern", "extract", "message"),
    [("(", "", "invalid regex '\\('"), (r"^(\d+)$", "${v}", "unknown group 'v'")],
)
def test_tag_filter_validates_at_construction(pattern: str, extract: str, message: str):
    with pytest.raises(ValueError, match=message):
        TagFilter(pattern, extract)
