"""promotion.yaml: tag policies, validation errors that name the field, freeze windows."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.errors import PolicyError
from bot.policy import (
    NumericalPolicy,
    SemverPolicy,
    TagFilter,
    TagPolicySpec,
    load_policy,
    parse_duration,
    parse_notifications,
    parse_policy,
    parse_policy_data,
    policy_from_spec,
)
from tests.bot.core.builders import BASE_POLICY

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_repository_policy_loads_with_three_ordered_environments():
    policy = load_policy(REPO_ROOT / "promotion.yaml")
    assert policy.names == ["dev", "staging", "prod"]
    assert policy.image_reference_name == "modelopsacr.azurecr.io/modelops-app"
    assert policy.model_name == "digits"
    assert policy.environment("prod").overlay == "deploy/overlays/prod/kustomization.yaml"
    assert policy.environment("prod").soak == timedelta(days=1)
    assert policy.first.automerge and not policy.environment("prod").automerge
    prev = policy.previous("staging")
    assert prev is not None and prev.name == "dev"
    assert policy.previous("dev") is None
    # the shipped reviewers are teams of the `modelops` organization, never users
    assert [(r.org, r.name) for r in policy.environment("prod").reviewers] == [
        ("modelops", "ml-reviewers"),
        ("modelops", "sre"),
    ]
    # later environments inherit the first one's tag policy
    assert policy.tag_policy("prod").latest(["0.1.0-9-abcdef0", "0.1.0-10-abcdef1"]) == (
        "0.1.0-10-abcdef1"
    )


@pytest.mark.parametrize(
    ("policy", "tags", "expected"),
    [
        (SemverPolicy(">=1.0.0 <2.0.0"), ["0.9.0", "1.2.0", "1.10.0", "2.0.0"], "1.10.0"),
        (SemverPolicy("*"), ["v1.0.0", "1.0.0", "latest", "main"], "v1.0.0"),
        (SemverPolicy("^1.2"), ["1.2.0", "1.3.0-rc.1", "1.2.5"], "1.2.5"),
        (SemverPolicy(">=1.3.0-0"), ["1.2.0", "1.3.0-rc.1"], "1.3.0-rc.1"),
        (SemverPolicy(">=3.0.0"), ["1.0.0", "2.0.0"], None),
        (SemverPolicy("*"), [], None),
        (
            SemverPolicy("*", TagFilter(r"^release-(?P<v>.+)$", "$v")),
            ["release-1.0.0", "release-1.1.0", "9.9.9"],
            "release-1.1.0",
        ),
        (NumericalPolicy(), ["1", "10", "9", "x"], "10"),
        (NumericalPolicy("desc"), ["1", "10", "9"], "1"),
        (NumericalPolicy(), ["1925512", "7.0", "0.10"], "1925512"),
        (NumericalPolicy(), ["0.10", "0.9"], "0.9"),
        (
            NumericalPolicy(tag_filter=TagFilter(r"^\d+\.\d+\.\d+-(\d+)-[0-9a-f]+$", "$1")),
            ["0.1.0-42-abc1234", "0.1.0-7-abc1234", "0.2.0-9-abc1234", "latest"],
            "0.1.0-42-abc1234",
        ),
        (
            NumericalPolicy(tag_filter=TagFilter(r"^main-(?P<ts>\d+)$", "${ts}")),
            ["main-100", "main-99", "feature-200"],
            "main-100",
        ),
        (NumericalPolicy(tag_filter=TagFilter(r"^main-")), ["main-1", "1"], None),
    ],
)
def test_tag_policy_latest(policy: Any, tags: list[str], expected: str | None):
    assert policy.latest(tags) == expected


def test_tag_filter_validates_at_construction():
    with pytest.raises(ValueError, match="invalid regex"):
        TagFilter("(")
    with pytest.raises(ValueError, match="unknown group 'build'"):
        TagFilter(r"^(?P<ver>\d+)$", "$build")
    with pytest.raises(ValueError, match="unknown group '2'"):
        TagFilter(r"^(\d+)$", "$2")
    with pytest.raises(ValueError, match="invalid range"):
        SemverPolicy(">=1.x.")
    with pytest.raises(ValueError, match="order must be"):
        NumericalPolicy("up")  # type: ignore[arg-type]


def test_tag_filter_optional_group_extracts_empty():
    assert TagFilter(r"^(?P<a>x)?(?P<b>\d+)$", "$a$b").apply("7") == "7"


def test_policy_from_spec_picks_the_class():
    semver = policy_from_spec(TagPolicySpec.model_validate({"semver": {"range": "^1"}}))
    numerical = policy_from_spec(TagPolicySpec.model_validate({"numerical": {"order": "desc"}}))
    assert isinstance(semver, SemverPolicy) and semver.range == "^1"
    assert isinstance(numerical, NumericalPolicy) and numerical.order == "desc"


def _with(path: str, value: object) -> dict[str, Any]:
    """BASE_POLICY with one dotted path (list indexes as numbers) set; None deletes it."""
    data = copy.deepcopy(BASE_POLICY)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if value is None:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "environments.1.tag_policy",
            {"semver": {"range": ">=1.x."}},
            "test: environments[1].tag_policy.semver.range: invalid range '>=1.x.'",
        ),
        (
            "environments.0.tag_policy.filter.extract",
            "$nope",
            "test: environments[0].tag_policy.filter: extract '$nope' refers to unknown group",
        ),
        (
            "environments.0.tag_policy",
            {"semver": {"range": "*"}, "numerical": {}},
            "test: environments[0].tag_policy: give exactly one of 'semver' or 'numerical'",
        ),
        ("environments.1.soak", "an hour", "test: environments[1].soak: invalid duration"),
        (
            "environments.2.freeze_windows",
            [{"schedule": "61 * * * *", "duration": "1h"}],
            "test: environments[2].freeze_windows[0].schedule: invalid cron expression",
        ),
        (
            "environments.2.freeze_windows",
            [{"schedule": "0 * * * *", "duration": "0s"}],
            "test: environments[2].freeze_windows[0].duration: duration must be positive",
        ),
        (
            "environments.2.freeze_windows",
            [{"schedule": "0 * * * *", "duration": "1h", "timezone": "Mars/Olympus"}],
            "test: environments[2].freeze_windows[0].timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            "environments.0.gates.metrics.accuracy",
            {},
            "test: environments[0].gates.metrics.accuracy: give at least one of min",
        ),
        (
            "environments.0.gates.metrics.accuracy",
            {"max_drop": -1},
            "test: environments[0].gates.metrics.accuracy.max_drop: Input should be greater",
        ),
        ("environments.1.automerg", True, "test: environments[1].automerg: Extra inputs"),
        ("environments.1.name", "Staging!", "test: environments[1].name: String should match"),
        (
            "environments.1.overlay",
            "../elsewhere/kustomization.yaml",
            "test: environments[1].overlay: overlay must be a relative path",
        ),
        (
            "environments.1.source",
            {"previous": "dev", "model": {"name": "x"}},
            "test: environments[1].source: give either 'previous' or 'image' + 'model'",
        ),
        (
            "environments.0.source",
            {"image": {"repository": "modelops-app"}},
            "test: environments[0].source: give 'previous: <env>', or both",
        ),
        (
            "environments.2.source",
            {"previous": "dev"},
            "environments[2] (prod): source.previous must be 'staging'",
        ),
        (
            "environments.1.source",
            {"image": {"repository": "a"}, "model": {"name": "b"}},
            "must be 'dev' (the environment before it), not 'a registry'",
        ),
        (
            "environments.0.source",
            {"previous": "prod"},
            "environments[0] (dev): the first environment needs image + model sources",
        ),
        ("environments.0.tag_policy", None, "the first environment needs a tag_policy"),
        ("environments.0.soak", "1h", "soak needs a previous environment to soak in"),
        (
            "environments.1.model_selector",
            {"alias": "champion"},
            "model_selector only applies to the first environment",
        ),
        ("environments.2.name", "dev", "environment names must be unique: dev"),
        (
            "environments.2.overlay",
            "deploy/overlays/dev/kustomization.yaml",
            "environment overlays must be unique",
        ),
        ("environments", [], "test: environments: List should have at least 1 item"),
        ("registry.host", "https://acr", "test: registry.host: String should match"),
        ("model_store", None, "test: model_store: Field required"),
        (
            "model_store.account_url",
            "http://models.blob.core.windows.net",
            "test: model_store.account_url: String should match",
        ),
        ("model_store.container", "Models", "test: model_store.container: String should match"),
        ("model_store.region", "west", "test: model_store.region: Extra inputs are not permitted"),
        ("version", 2, "test: version: Input should be 1"),
        (
            "environments.2.reviewers",
            ["@modelops/sre"],
            "test: environments[2].reviewers: reviewer '@modelops/sre' is neither a user login "
            "(`octocat`) or an organization's team (`modelops/sre`)",
        ),
        ("environments.2.reviewers", ["modelops/sre/x"], "reviewer 'modelops/sre/x' is neither"),
        ("environments.2.reviewers", ["-bob"], "reviewer '-bob' is neither"),
        (
            "environments.0.gates.evaluation",
            {"dataset": "holdout"},
            "gates.evaluation.dataset: expected NAME@VERSION or NAME@ALIAS",
        ),
        (
            "environments.0.gates.evaluation",
            {"dataset": "holdout@1", "metrics": ["accuracy", "f2"]},
            "gates.evaluation.metrics[1]: unknown measured metric 'f2'",
        ),
        (
            "environments.0.gates.evaluation",
            {"dataset": "holdout@1", "claim_tolerance": -1},
            "gates.evaluation.claim_tolerance: Input should be greater than or equal to 0",
        ),
        (
            "environments.2.reviewers",
            ["modelops/SRE", "modelops/sre"],
            "reviewers are listed twice: ['modelops/SRE', 'modelops/sre']",
        ),
    ],
)
def test_invalid_policy_error_names_the_field(path: str, value: object, message: str):
    with pytest.raises(PolicyError) as info:
        parse_policy_data(_with(path, value), "test")
    assert message in str(info.value)


def test_policy_file_errors_name_the_file(tmp_path: Path):
    with pytest.raises(PolicyError, match=r"missing\.yaml: cannot read policy"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "promotion.yaml"
    bad.write_text("environments: [\n")
    with pytest.raises(PolicyError, match=r"promotion\.yaml: not valid YAML"):
        load_policy(bad)
    bad.write_text("- a list\n")
    with pytest.raises(PolicyError, match=r"promotion\.yaml: expected a mapping"):
        load_policy(bad)
    with pytest.raises(PolicyError, match=r"x\.yaml: registry: Field required"):
        parse_policy("version: 1\nenvironments: []\n", "x.yaml")


def test_every_error_is_reported_at_once():
    data = _with("environments.1.soak", "soon")
    data["environments"][2]["soak"] = "later"
    with pytest.raises(PolicyError) as info:
        parse_policy_data(data, "p.yaml")
    assert str(info.value).splitlines() == [
        "p.yaml: environments[1].soak: invalid duration 'soon' (examples: 90s, 30m, 1h30m, 2d)",
        "p.yaml: environments[2].soak: invalid duration 'later' (examples: 90s, 30m, 1h30m, 2d)",
    ]


def test_unknown_environment_lookup_names_the_known_ones():
    policy = parse_policy_data(BASE_POLICY)
    with pytest.raises(PolicyError, match="unknown environment 'qa' \\(known: dev, staging, prod"):
        policy.environment("qa")


def _chain(size: int, own_tag_policy_at: int) -> dict[str, Any]:
    """BASE_POLICY's first environment, then a chain `env-0001 -> env-0002 -> ...`; the one at
    `own_tag_policy_at` has its own (semver) tag policy."""
    data = copy.deepcopy(BASE_POLICY)
    envs = [data["environments"][0]]
    for i in range(1, size):
        env: dict[str, Any] = {"name": f"env-{i:04d}", "source": {"previous": envs[-1]["name"]}}
        if i == own_tag_policy_at:
            env["tag_policy"] = {"semver": {"range": ">=1.0.0"}}
        envs.append(env)
    data["environments"] = envs
    return data


def test_lookups_along_a_long_chain_follow_the_declared_order():
    data = _chain(1000, own_tag_policy_at=600)
    policy = parse_policy_data(data)
    names = policy.names
    first_policy = policy.tag_policy("dev")
    own_policy = policy.tag_policy("env-0600")
    assert isinstance(first_policy, NumericalPolicy)
    assert isinstance(own_policy, SemverPolicy) and own_policy.range == ">=1.0.0"
    for index, name in enumerate(names):
        env = policy.environment(name)
        assert env.name == name and env is policy.environments[index]
        previous = policy.previous(name)
        assert previous is (policy.environments[index - 1] if index else None)
        # the nearest own tag policy up the chain; built once per spec, then reused
        assert policy.tag_policy(name) is (first_policy if index < 600 else own_policy)
    with pytest.raises(PolicyError, match="unknown environment 'env-1000'"):
        policy.tag_policy("env-1000")
    with pytest.raises(PolicyError, match="unknown environment 'qa'"):
        policy.previous("qa")


def test_lookups_leave_equal_policies_equal():
    used, fresh = parse_policy_data(_chain(5, 3)), parse_policy_data(_chain(5, 3))
    for name in used.names:
        used.tag_policy(name)
    assert used == fresh
    assert used != parse_policy_data(_chain(5, 2))
    assert used.with_registry_host("127.0.0.1:5000").environment("env-0004").name == "env-0004"


def test_registry_host_override_keeps_the_rest():
    policy = parse_policy_data(BASE_POLICY).with_registry_host("127.0.0.1:5000")
    assert policy.image_reference_name == "127.0.0.1:5000/modelops-app"
    assert policy.names == ["dev", "staging", "prod"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(seconds=90)),
        (90, timedelta(seconds=90)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        (timedelta(hours=1), timedelta(hours=1)),
    ],
)
def test_parse_duration(text: object, expected: timedelta):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1x", "-5", "h", True])
def test_parse_duration_refuses_garbage(text: object):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


WEEKEND = {"name": "weekend", "schedule": "0 18 * * 5", "duration": "62h"}


@pytest.mark.parametrize(
    ("now", "open_until"),
    [
        (datetime(2026, 3, 6, 17, 59, tzinfo=UTC), None),  # Friday before
        (datetime(2026, 3, 6, 18, 0, tzinfo=UTC), datetime(2026, 3, 9, 8, 0, tzinfo=UTC)),
        (datetime(2026, 3, 8, 23, 0, tzinfo=UTC), datetime(2026, 3, 9, 8, 0, tzinfo=UTC)),
        (datetime(2026, 3, 9, 8, 0, tzinfo=UTC), None),  # Monday 08:00: closed again
        (datetime(2026, 3, 4, 12, 0, tzinfo=UTC), None),
    ],
)
def test_freeze_window_open_until(now: datetime, open_until: datetime | None):
    data = _with("environments.2.freeze_windows", [WEEKEND])
    env = parse_policy_data(data).environment("prod")
    frozen = env.frozen_until(now)
    assert (frozen[1] if frozen else None) == open_until
    if frozen:
        assert frozen[0].label == "weekend"


def test_freeze_window_in_a_time_zone():
    window = {"schedule": "0 9 * * *", "duration": "1h", "timezone": "Europe/Berlin"}
    env = parse_policy_data(_with("environments.2.freeze_windows", [window])).environment("prod")
    assert env.frozen_until(datetime(2026, 1, 5, 8, 30, tzinfo=UTC)) is not None  # 09:30 CET
    assert env.frozen_until(datetime(2026, 1, 5, 9, 30, tzinfo=UTC)) is None
    assert env.freeze_windows[0].label == "0 9 * * * for 1:00:00"


def test_the_shipped_policy_declares_one_model_store_for_every_environment() -> None:
    shipped = load_policy(Path(__file__).resolve().parents[2] / "promotion.yaml")
    assert str(shipped.model_store) == "https://modelopsmodels.blob.core.windows.net/models"
    with_slash = _with("model_store.account_url", "https://models.blob.core.windows.net/")
    assert parse_policy_data(with_slash).model_store.account_url == (
        "https://models.blob.core.windows.net"
    )


def test_an_evaluation_spec_pins_a_version_or_names_an_alias():
    spec = {
        "dataset": "digits-holdout@golden",
        "metrics": ["accuracy", "top_3_accuracy", "accuracy"],
        "bounds": {"ece": {"max": 0.1}},
        "per_class_recall": {"max_drop": 0.05},
    }
    found = parse_policy_data(_with("environments.0.gates.evaluation", spec), "test")
    evaluation = found.first.gates.evaluation
    assert evaluation is not None
    assert (evaluation.key, evaluation.pinned_version) == ("digits-holdout@golden", None)
    assert evaluation.metrics == ("accuracy", "top_3_accuracy")
    assert evaluation.gates["ece"].max == 0.1
    assert evaluation.per_class_recall is not None and evaluation.claim_tolerance == 0.01
    spec = {"dataset": "digits-holdout@3"}
    found = parse_policy_data(_with("environments.0.gates.evaluation", spec), "test")
    assert found.first.gates.evaluation is not None
    assert found.first.gates.evaluation.pinned_version == 3


@pytest.mark.parametrize(
    ("value", "required"),
    [(None, None), ([], ()), (["ci/test", "lint"], ("ci/test", "lint"))],
    ids=["absent", "empty", "named"],
)
def test_required_checks_absent_is_not_the_same_as_empty(value, required):
    """Absent: every check reported on the head counts and a head with none waits; `[]`: the
    policy explicitly needs none (bot/core/checks.py)."""
    data = _with("environments.0.automerge", True)
    if value is not None:
        data["environments"][0]["required_checks"] = value
    assert parse_policy_data(data).first.required_checks == required


def test_an_empty_required_checks_needs_automerge_too():
    data = _with("environments.0.automerge", False)
    data["environments"][0]["required_checks"] = []
    with pytest.raises(PolicyError, match="required_checks only applies with automerge"):
        parse_policy_data(data)


@pytest.mark.parametrize(
    "name", ["GITHUB_TOKEN", "AZURE_DEVOPS_EXT_PAT", "SLACK_URL", "x_WEBHOOK_URL"]
)
def test_a_webhook_url_comes_only_from_a_webhook_url_setting(name: str):
    """`url_from` names the environment variable the bot posts to a URL from: a policy edit
    naming GITHUB_TOKEN would hand the token to whatever chat URL it is read as."""
    shipped = (REPO_ROOT / "promotion.yaml").read_text()
    text = shipped.replace("url_from: SLACK_WEBHOOK_URL", f"url_from: {name}")
    with pytest.raises(PolicyError) as info:
        parse_notifications(text, "test")
    assert (
        "test: notifications.webhooks[1].url_from: must match ^[A-Z][A-Z0-9_]*_WEBHOOK_URL$,"
        in (str(info.value))
    )
    renamed = shipped.replace("url_from: SLACK_WEBHOOK_URL", "url_from: SRE_CHAT_WEBHOOK_URL")
    assert parse_notifications(renamed, "test")[1].url_from == "SRE_CHAT_WEBHOOK_URL"
