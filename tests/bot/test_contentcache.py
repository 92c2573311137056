"""`bot.contentcache`: parsed pins and policies by blob id — same bytes, same result; bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.contentcache import PACK_FILE, ContentCache, DiskEntries, blob_sha
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


def _pins_cache(root: Path) -> ContentCache[pins.OverlayPins]:
    cache: ContentCache[pins.OverlayPins] = ContentCache(maxsize=8)
    cache.use_disk(DiskEntries(root), pins.pins_to_json, pins.pins_from_json)
    return cache


def _never() -> pins.OverlayPins:
    raise AssertionError("parsed again")


def test_a_new_process_reads_parsed_pins_from_disk_and_rewrites_a_corrupt_entry(tmp_path: Path):
    """Each shipped overlay parsed once; a fresh cache (a new process) on the same directory
    hands out equal pins without parsing; a corrupt or foreign entry is parsed and rewritten."""
    root = tmp_path / "cache"
    names = ("modelops-app", "model-pin")
    overlays = sorted((PROJECT / "deploy" / "overlays").glob("*/kustomization.yaml"))
    texts = [p.read_text() for p in overlays]

    def read(cache: ContentCache[pins.OverlayPins], text: str) -> pins.OverlayPins:
        return cache.get_or_parse(text, names, lambda: pins._parse_pins(text, *names, "k"))

    first = _pins_cache(root)
    parsed = [read(first, t) for t in texts]
    assert parsed[0].image is not None and parsed[0].model is not None
    fresh = _pins_cache(root)
    assert [fresh.get_or_parse(t, names, _never) for t in texts] == parsed
    files = sorted(root.glob("*.json"))
    assert len(files) == len(set(texts))
    for f, junk in zip(files, ["{", '{"key": [], "value": 1}', "[1]"], strict=False):
        f.write_text(junk)
    again = _pins_cache(root)
    assert [read(again, t) for t in texts] == parsed
    assert [_pins_cache(root).get_or_parse(t, names, _never) for t in texts] == parsed
    bad = dict(pins.pins_to_json(parsed[0]), model=["x", "1", "y"])
    broken: dict[str, Any]
    for broken in (bad, {"image": None}, {"image": [1], "model": None, "literals": {}}):
        with pytest.raises((ValueError, TypeError, KeyError)):
            pins.pins_from_json(broken)


def test_the_disk_entries_are_bounded_and_a_cache_without_a_directory_still_works(tmp_path: Path):
    root = tmp_path / "cache"
    disk = DiskEntries(root)
    for n in range(10):
        disk.put(("k", n), n)
    assert disk.get(("k", 3)) == 3 and disk.get(("k", 99)) is None
    DiskEntries(root, maxfiles=6)  # over the bound: the oldest half go
    assert len(list(root.glob("*.json"))) == 3
    (tmp_path / "file").write_text("")
    cache: ContentCache[str] = ContentCache(maxsize=2)
    cache.use_disk(DiskEntries(tmp_path / "file" / "cache"), str, str)  # cannot be created
    assert cache.get_or_parse("a", (), lambda: "A") == "A"


def test_pins_on_disk_from_other_parsing_code_are_parsed_again(tmp_path: Path, bare_remote: Path):
    """The checkout's pins cache outlives an upgrade of the bot: an entry the code before it
    wrote (no version) is never read, like the policy's (decision 38), so a parse that now
    reads an overlay differently is never hidden behind an old answer."""
    from bot.wiring import prepare_checkout
    from tests.conftest import seed_remote

    text = (PROJECT / "deploy" / "overlays" / "dev" / "kustomization.yaml").read_text()
    names = ("modelops-app", "model-pin")
    parsed = pins._parse_pins(text, *names, "k")
    assert parsed.model is not None
    seed_remote(tmp_path / "seed", bare_remote, {"README": "x\n"})
    checkout = tmp_path / "checkout"
    root = checkout / ".git" / "promotion-bot" / "cache" / "pins-v1"
    stale = dict(pins.pins_to_json(parsed), model=[parsed.model.name, 999, "0" * 64])
    try:
        prepare_checkout(str(bare_remote), checkout)
        DiskEntries(root).put((blob_sha(text), *names), stale)  # the code before versions
        pins.PINS_CACHE.clear()
        assert pins.read_pins_text(text, *names) == parsed
    finally:
        pins.PINS_CACHE.use_disk(None, pins.pins_to_json, pins.pins_from_json)
        pins.PINS_CACHE.clear()


def _packed(root: Path, pack: int = 64) -> ContentCache[pins.OverlayPins]:
    cache: ContentCache[pins.OverlayPins] = ContentCache(maxsize=8)
    cache.use_disk(DiskEntries(root, pack=pack), pins.pins_to_json, pins.pins_from_json)
    return cache


def _written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files `DiskEntries` writes (a spy: they are still written)."""
    names: list[str] = []
    write = DiskEntries._write

    def spy(self: DiskEntries, path: Path, data: str) -> None:
        names.append(path.name)
        write(self, path, data)

    monkeypatch.setattr(DiskEntries, "_write", spy)
    return names


def test_a_new_process_reads_what_the_last_one_used_from_one_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The pack holds the entries the last process used: the next one reads them from it
    (the entries' own files are gone here) and writes no pack when it used nothing else."""
    root = tmp_path / "cache"
    names = ("modelops-app", "model-pin")
    overlays = sorted((PROJECT / "deploy" / "overlays").glob("*/kustomization.yaml"))
    texts = [p.read_text() for p in overlays]
    first = _packed(root)
    parsed = [
        first.get_or_parse(t, names, partial(pins._parse_pins, t, *names, "k")) for t in texts
    ]
    assert not (root / PACK_FILE).exists()
    first.save_disk()
    packed = json.loads((root / PACK_FILE).read_text())
    assert len(packed["entries"]) == len(set(texts))
    for entry in root.glob("*.json"):
        entry.unlink()
    written = _written(monkeypatch)
    fresh = _packed(root)

    assert [fresh.get_or_parse(t, names, _never) for t in texts] == parsed
    fresh.save_disk()
    assert written == []


def test_a_pack_that_does_not_read_back_is_written_again_from_the_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A damaged pack, one of another version, or an entry in it that does not decode: the
    entries' own files (or a parse) answer, and the pack is written again."""
    root = tmp_path / "cache"
    text = (PROJECT / "deploy" / "overlays" / "dev" / "kustomization.yaml").read_text()
    names = ("modelops-app", "model-pin")
    parsed = _packed(root).get_or_parse(text, names, lambda: pins._parse_pins(text, *names, "k"))
    pack = root / PACK_FILE
    for damaged in ("{", json.dumps({"version": "other", "entries": {}}), "[1]"):
        pack.write_text(damaged)
        written = _written(monkeypatch)
        cache = _packed(root)
        assert cache.get_or_parse(text, names, _never) == parsed
        cache.save_disk()
        assert written == [PACK_FILE]
        monkeypatch.undo()
        assert json.loads(pack.read_text())["version"] == ""
    stored = json.loads(pack.read_text())
    key = next(iter(stored["entries"]))
    stored["entries"][key] = {"image": None}
    pack.write_text(json.dumps(stored))
    cache = _packed(root)
    again = cache.get_or_parse(text, names, lambda: pins._parse_pins(text, *names, "k"))
    assert again == parsed
    cache.save_disk()
    assert json.loads(pack.read_text())["entries"][key] == pins.pins_to_json(parsed)


def test_the_pack_is_bounded_and_written_when_the_process_exits(tmp_path: Path):
    disk = DiskEntries(tmp_path / "bounded", pack=2)
    for n in range(3):
        disk.put(("k", n), n)
    disk.save()
    entries = json.loads((tmp_path / "bounded" / PACK_FILE).read_text())["entries"]
    assert entries == {json.dumps(["k", 0]): 0, json.dumps(["k", 1]): 1}
    root = tmp_path / "exits"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bot.contentcache import ContentCache, DiskEntries\n"
        "cache = ContentCache(maxsize=2)\n"
        "cache.use_disk(DiskEntries(Path(sys.argv[1]), pack=8), str, str)\n"
        "cache.get_or_parse('text', ('x',), lambda: 'parsed')\n"
    )
    subprocess.run([sys.executable, "-c", script, str(root)], check=True)
    stored = json.loads((root / PACK_FILE).read_text())
    assert list(stored["entries"].values()) == ["parsed"]
