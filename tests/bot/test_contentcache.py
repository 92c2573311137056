"""`bot.contentcache`: parsed pins and policies by blob id — same bytes, same result; bounded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.contentcache import ContentCache, blob_sha
from bot.errors import OverlayError, PolicyError
from bot.overlay import pins
from bot.policy import NOTIFICATIONS_CACHE, POLICY_CACHE, parse_notifications, parse_policy

PROJECT = Path(__file__).resolve().parents[2]
OVERLAY = (PROJECT / "deploy" / "overlays" / "dev" / "kustomization.yaml").read_text()
POLICY = (PROJECT / "promotion.yaml").read_text()


@pytest.mark.parametrize("text", ["", "a\n", "é ✓ \x00 bytes\n", OVERLAY])
def test_the_key_is_gits_blob_id(text: str):
    git = subprocess.run(
        ["git", "hash-object", "--stdin"], input=text.encode(), capture_output=True, check=True
    )
    assert blob_sha(text) == git.stdout.decode().strip()


def test_the_cache_is_bounded_least_recently_used_out():
    cache: ContentCache[str] = ContentCache(maxsize=2)
    calls: list[str] = []

    def parse(text: str) -> str:
        def upper() -> str:
            calls.append(text)
            return text.upper()

        return cache.get_or_parse(text, (), upper)

    assert [parse("a"), parse("b"), parse("a"), parse("c")] == ["A", "B", "A", "C"]
    assert len(cache) == 2 and calls == ["a", "b", "c"]  # "b" was the least recently used
    parse("a")
    parse("b")
    assert calls == ["a", "b", "c", "b"]
    with pytest.raises(ValueError, match="at least 1"):
        ContentCache(0)


def test_other_inputs_are_part_of_the_key():
    cache: ContentCache[tuple[str, str]] = ContentCache(maxsize=8)
    assert cache.get_or_parse("t", ("x",), lambda: ("t", "x")) == ("t", "x")
    assert cache.get_or_parse("t", ("y",), lambda: ("t", "y")) == ("t", "y")
    assert (cache.hits, cache.misses) == (0, 2)


def test_pins_are_parsed_once_per_content_and_errors_are_not_kept(
    monkeypatch: pytest.MonkeyPatch,
):
    pins.PINS_CACHE.clear()
    parsed: list[str] = []
    real = pins._parse_pins

    def counting(text: str, image_name: str, model_pin: str, path: str) -> pins.OverlayPins:
        parsed.append(path)
        return real(text, image_name, model_pin, path)

    monkeypatch.setattr(pins, "_parse_pins", counting)
    first = pins.read_pins_text(OVERLAY, "modelops-app", "model-pin", "a.yaml")
    assert pins.read_pins_text(OVERLAY, "modelops-app", "model-pin", "b.yaml") is first
    assert parsed == ["a.yaml"]  # the same bytes elsewhere: not parsed again
    moved = OVERLAY.replace("MODEL_VERSION=", "MODEL_VERSION=1", 1)
    assert pins.read_pins_text(moved, "modelops-app", "model-pin", "a.yaml") != first
    with pytest.raises(TypeError):
        first.literals["MODEL_VERSION"] = "9"  # type: ignore[index]
    bad = "configMapGenerator:\n  - name: model-pin\n    literals: [MODEL_NAME=digits]\n"
    for _ in range(2):
        with pytest.raises(OverlayError, match=r"x\.yaml"):
            pins.read_pins_text(bad, "modelops-app", "model-pin", "x.yaml")
    assert parsed == ["a.yaml", "a.yaml", "x.yaml", "x.yaml"]


def test_the_policy_is_validated_once_per_content():
    POLICY_CACHE.clear()
    first = parse_policy(POLICY, "promotion.yaml")
    assert parse_policy(POLICY, "promotion.yaml") is first
    assert (POLICY_CACHE.hits, POLICY_CACHE.misses) == (1, 1)
    assert parse_policy(POLICY + "# another blob\n", "promotion.yaml") == first  # re-parsed
    assert POLICY_CACHE.misses == 2
    for _ in range(2):
        with pytest.raises(PolicyError, match=r"other\.yaml"):
            parse_policy("version: [", "other.yaml")


def test_the_webhooks_are_read_once_per_policy_content():
    NOTIFICATIONS_CACHE.clear()
    first = parse_notifications(POLICY, "promotion.yaml")
    again = parse_notifications(POLICY, "promotion.yaml")
    assert again == first and again is not first  # a new list, the same (frozen) specs
    assert (NOTIFICATIONS_CACHE.hits, NOTIFICATIONS_CACHE.misses) == (1, 1)
    for _ in range(2):
        with pytest.raises(PolicyError, match=r"other\.yaml"):
            parse_notifications("version: [", "other.yaml")
