"""`bot.policycache`: the parsed policy on disk reads back equal, or is parsed again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import policy, policycache
from bot.contentcache import DiskEntries
from bot.core.policy import Hold, HoldScope, PromotionPolicy
from bot.errors import PolicyError

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = (PROJECT / "promotion.yaml").read_text()


def chain_policy(envs: int) -> str:
    """A valid `envs`-environment chain using every kind of value a policy holds (every
    tenth environment the fullest: parsing the YAML is what takes time)."""
    lines = [
        "version: 1",
        "registry: {host: 'registry.example:5000'}",
        "model_store:",
        "  account_url: https://modelopsmodels.blob.core.windows.net",
        "  container: models",
        "environments:",
        "  - name: env-0",
        "    source: {image: {repository: team/app}, model: {name: digits}}",
        "    tag_policy:",
        "      semver: {range: '>=1.2.0 <2.0.0'}",
        "      filter: {pattern: '^v(?P<version>.+)$', extract: '$version'}",
        "    model_selector: {alias: champion}",
    ]
    for i in range(1, envs):
        lines += [f"  - name: env-{i}", f"    source: {{previous: env-{i - 1}}}"]
        if i % 10 == 5:
            lines += [
                f"    soak: {i % 5 + 1}h{i % 60}m",
                "    confirm: release",
                "    freeze_windows:",
                f"      - {{schedule: '0 {i % 24} * * 5', duration: 62h, timezone: Europe/Paris}}",
                f"      - {{name: year-end, schedule: '0 0 20 12 *', duration: {i % 9 + 1}d}}",
                f"    reviewers: [user-{i}, modelops/team-{i % 7}]",
                "    rollback: {direct: true}",
            ]
        elif i % 10 == 0:
            lines += [
                "    tag_policy: {numerical: {order: desc}}",
                "    automerge: true",
                f"    required_checks: [ci, 'lint {i}']" if i % 20 else "    required_checks: []",
                "    allow_downgrade: true",
                f"    labels: [promotion, env/env-{i}]",
                "    gates:",
                f"      metrics: {{accuracy: {{min: 0.{90 + i % 9}, max_drop: 0.02}}}}",
                "      evaluation:",
                f"        dataset: digits-holdout@{'golden' if i % 30 else i}",
                "        metrics: [accuracy, ece, top_3_accuracy]",
                "        bounds: {ece: {max: 0.15}, accuracy: {min: 0.9}}",
                "        per_class_recall: {min: 0.8, max_rise: 1}",
                "        claim_tolerance: 0.025",
            ]
    lines += [
        "notifications:",
        "  webhooks:",
        "    - {name: sre, format: slack, url_from: SLACK_WEBHOOK_URL, events: [rollback]}",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def on_disk(tmp_path: Path) -> Iterator[Path]:
    """The module caches kept under a temporary directory (memory emptied: a new process)."""
    root = tmp_path / "policy-v1"
    policycache.keep_on_disk(root)
    policy.POLICY_CACHE.clear()
    policy.NOTIFICATIONS_CACHE.clear()
    yield root
    policycache.keep_on_disk(None)
    policy.POLICY_CACHE.clear()
    policy.NOTIFICATIONS_CACHE.clear()


def _unparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new process that must not parse: the memory caches empty, parsing fails."""

    def never(*args: Any) -> Any:
        raise AssertionError("parsed again")

    policy.POLICY_CACHE.clear()
    policy.NOTIFICATIONS_CACHE.clear()
    monkeypatch.setattr(policy, "_parse_policy", never)
    monkeypatch.setattr(policy, "_load_spec", never)


@pytest.mark.parametrize("text", [SHIPPED, chain_policy(1000)], ids=["shipped", "1000-envs"])
def test_a_new_process_reads_the_same_policy_and_webhooks_from_disk(
    text: str, on_disk: Path, monkeypatch: pytest.MonkeyPatch
):
    parsed = policy.parse_policy(text)
    hooks = policy.parse_notifications(text)
    assert hooks
    encoded = json.loads(json.dumps(policycache.policy_to_json(parsed)))
    assert policycache.policy_from_json(encoded) == parsed  # and without the disk
    assert len(list(on_disk.glob("*.json"))) == 2  # the policy and its webhooks
    _unparsed(monkeypatch)
    again = policy.parse_policy(text)
    assert again == parsed and again is not parsed
    assert [again.tag_policy(name) for name in again.names] == [
        parsed.tag_policy(name) for name in parsed.names
    ]
    assert [env.freeze_windows for env in again.environments] == [
        env.freeze_windows for env in parsed.environments
    ]
    assert policy.parse_notifications(text) == hooks
    with pytest.raises(AssertionError, match="parsed again"):
        policy.parse_policy(text + "# another blob\n")


def test_a_corrupt_or_foreign_entry_is_parsed_and_written_again(
    on_disk: Path, monkeypatch: pytest.MonkeyPatch
):
    parsed = policy.parse_policy(SHIPPED)
    (entry,) = [f for f in on_disk.glob("*.json") if f.stat().st_size > 1000]
    stored = json.loads(entry.read_text())
    env = stored["value"]["environments"][0]
    broken: list[Any] = [
        "{",
        {**stored, "value": {**stored["value"], "$": "Hold"}},
        {**stored, "value": {**stored["value"], "environments": [{**env, "extra": 1}]}},
        {**stored, "value": {**stored["value"], "environments": [{**env, "soak": {"$": 1}}]}},
        {**stored, "value": [1, 2]},
        {**stored, "version": "other code"},
    ]
    for junk in broken:
        entry.write_text(junk if isinstance(junk, str) else json.dumps(junk))
        policy.POLICY_CACHE.clear()
        assert policy.parse_policy(SHIPPED) == parsed  # parsed again
        assert json.loads(entry.read_text()) == stored  # and written again
    _unparsed(monkeypatch)
    assert policy.parse_policy(SHIPPED) == parsed


def test_only_what_a_parse_returns_is_kept_and_other_code_never_reads_it(tmp_path: Path):
    parsed = policy.parse_policy(SHIPPED)
    hold = Hold(HoldScope.ALL, "incident", "sre", datetime(2030, 1, 1, tzinfo=UTC))
    with pytest.raises(TypeError, match="Hold"):
        policycache.to_json(parsed.with_holds({"prod": hold}))
    with pytest.raises(TypeError):
        policycache.to_json({1: "not a string key"})
    with pytest.raises(TypeError):
        policycache.policy_from_json(policycache.to_json(parsed.environments[0]))
    key = ("blob", "promotion.yaml")
    DiskEntries(tmp_path, version="a").put(key, policycache.policy_to_json(parsed))
    assert DiskEntries(tmp_path, version="b").get(key) is None
    assert policycache.policy_from_json(DiskEntries(tmp_path, version="a").get(key)) == parsed
    version = policycache.code_version()
    assert version is not None and len(version) == 64


def test_an_invalid_policy_is_never_cached(on_disk: Path):
    for _ in range(2):
        with pytest.raises(PolicyError, match=r"source\.previous"):
            policy.parse_policy(SHIPPED.replace("previous: dev", "previous: prod"))
    assert list(on_disk.glob("*.json")) == []
    assert isinstance(policy.parse_policy(SHIPPED), PromotionPolicy)
