"""The preserving overlay editor: golden cases in tests/bot/testdata/<case>/.

Each case holds `original/kustomization.yaml`, `request.json` (images, literals, or the
expected `error`) and, unless it is an error case, `expected/kustomization.yaml`. Regenerate
the expected files with `UPDATE_GOLDEN=1` and review every diff by eye.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.core.model import ImagePin, ModelPin
from bot.errors import OverlayError, UnknownGeneratorError, UnknownImageError
from bot.kustomize import (
    Change,
    ImageSet,
    LiteralSet,
    edit_text,
    image_set,
    promotion_edits,
    read_pins,
    read_pins_text,
    set_pins,
)

TESTDATA = Path(__file__).parent / "testdata"
CASES = sorted(p.name for p in TESTDATA.iterdir() if (p / "request.json").exists())
FILE = "kustomization.yaml"
FIRST_KEY_REMOVED = {"remove_first_key_of_entry"}
PIN = "model-pin"


def _requests(case: str) -> tuple[list[ImageSet], list[LiteralSet], dict[str, Any]]:
    data = json.loads((TESTDATA / case / "request.json").read_text())
    images = [ImageSet(**item) for item in data["images"]]
    literals = [LiteralSet(**item) for item in data["literals"]]
    return images, literals, data


def test_there_are_enough_golden_cases():
    ok = [c for c in CASES if not c.startswith("error_")]
    assert len(ok) >= 15
    assert len(CASES) - len(ok) >= 5


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tmp_path: Path):
    images, literals, data = _requests(case)
    original = (TESTDATA / case / "original" / FILE).read_bytes()
    work = tmp_path / FILE
    work.write_bytes(original)
    if "error" in data:
        with pytest.raises(OverlayError) as info:
            set_pins(work, images=images, literals=literals, display=f"{case}/{FILE}")
        assert str(info.value).startswith(f"{case}/{FILE}: ")
        assert data["error"] in str(info.value)
        assert work.read_bytes() == original  # nothing half-written
        return
    result = set_pins(work, images=images, literals=literals)
    expected_path = TESTDATA / case / "expected" / FILE
    if os.environ.get("UPDATE_GOLDEN"):
        expected_path.parent.mkdir(exist_ok=True)
        expected_path.write_bytes(work.read_bytes())
    assert work.read_bytes() == expected_path.read_bytes()
    # Idempotent: applying the same request to the result changes nothing.
    again = set_pins(work, images=images, literals=literals)
    assert again.is_empty
    assert work.read_bytes() == expected_path.read_bytes()
    assert result.is_empty == (original == expected_path.read_bytes())


def _changed_lines(a: bytes, b: bytes) -> list[tuple[str, str]]:
    import difflib

    old = a.decode().splitlines(keepends=True)
    new = b.decode().splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=old, b=new)
    out = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            out.append(("".join(old[i1:i2]), "".join(new[j1:j2])))
    return out


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith("error_")])
def test_golden_changes_touch_only_pinned_lines(case: str):
    """Every changed line is a pinned field or literal; everything else is byte-identical."""
    original = (TESTDATA / case / "original" / FILE).read_bytes()
    expected = (TESTDATA / case / "expected" / FILE).read_bytes()
    pinned = ("newName", "newTag", "digest", "MODEL_", "LOG_LEVEL", "{name: modelops-app")
    for old, new in _changed_lines(original, expected):
        for line in (old + new).splitlines():
            # removing a first key `- digest: x` moves the next line up behind the dash
            moved = case in FIRST_KEY_REMOVED and line.lstrip(" -").startswith("name: ")
            assert moved or any(key in line for key in pinned), (case, line)
        # line endings are kept
        if "\r\n" in original.decode():
            assert "\n" not in new.replace("\r\n", "")


def test_result_lists_each_change_like_flux():
    text = (TESTDATA / "basic_overlay" / "original" / FILE).read_text()
    images, literals, _ = _requests("basic_overlay")
    _, result = edit_text(text, images=images, literals=literals, path="dev/k.yaml")
    assert result.files == {
        "dev/k.yaml": {
            "images[modelops-app]": [
                Change("newTag", "0.1.0-42-abc1234", "0.1.0-43-def5678"),
                Change("digest", "sha256:" + "1" * 64, "sha256:" + "2" * 64),
            ],
            "configMapGenerator[model-pin]": [
                Change("MODEL_VERSION", "3", "4"),
                Change("MODEL_SHA256", "a" * 64, "b" * 64),
            ],
        }
    }
    assert result.lines()[0] == (
        "dev/k.yaml: images[modelops-app].newTag: 0.1.0-42-abc1234 -> 0.1.0-43-def5678"
    )


def test_result_records_added_and_removed_fields():
    _, added = edit_text(
        "kind: Kustomization\nimages:\n- name: a\n  newTag: x\n",
        images=[ImageSet("a", tag="v2", digest="sha256:" + "3" * 64)],
    )
    assert added.files[FILE]["images[a]"] == [
        Change("newTag", "x", "v2"),
        Change("digest", None, "sha256:" + "3" * 64),
    ]
    text, removed = edit_text(
        "images:\n- name: a\n  newTag: x\n  digest: sha256:1\n", images=[ImageSet("a", tag="v2")]
    )
    assert text == "images:\n- name: a\n  newTag: v2\n"
    assert removed.lines() == [
        f"{FILE}: images[a].newTag: x -> v2",
        f"{FILE}: images[a].digest: sha256:1 -> (none)",
    ]


def test_unchanged_edit_does_not_rewrite_the_file(tmp_path: Path):
    path = tmp_path / FILE
    path.write_text("kind: Kustomization\nimages:\n- name: a\n  newTag: x\n")
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before - 10**9, before - 10**9))
    result = set_pins(path, images=[ImageSet("a", tag="x")])
    assert result.is_empty
    assert path.stat().st_mtime_ns == before - 10**9


def test_edit_keeps_file_mode(tmp_path: Path):
    path = tmp_path / FILE
    path.write_text("images:\n- name: a\n  newTag: x\n")
    path.chmod(0o640)
    set_pins(path, images=[ImageSet("a", tag="y")])
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [FILE]


def test_byte_order_mark_is_kept():
    text, _ = edit_text("\ufeffimages:\n- name: a\n  newTag: x\n", images=[ImageSet("a", tag="v2")])
    assert text == "\ufeffimages:\n- name: a\n  newTag: v2\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file: not a Kustomization"),
        ("images:\r- name: a\r", "bare CR line endings"),
        ("images: {a: 1}\n", "images must be a list"),
        ("images:\n- just-a-string\n", "images[0] must be a mapping"),
        (
            "configMapGenerator:\n- name: model-pin\n  files: [a.env]\n",
            "configMapGenerator[0] (model-pin) has no literals list",
        ),
        (
            "configMapGenerator:\n- name: model-pin\n  literals: [NOEQUALS]\n",
            "configMapGenerator[0].literals[0] is not KEY=VALUE",
        ),
        (
            "configMapGenerator:\n- name: model-pin\n  literals: []\n",
            "configMapGenerator[0].literals is empty",
        ),
        (
            "images:\n- {name: a, newTag: x, digest: sha256:1}\n",
            "cannot remove images[0].digest from a flow-style mapping",
        ),
        (
            "images:\n- digest: sha256:1\n  # pinned\n  name: a\n  newTag: x\n",
            "cannot remove images[0].digest in place (comment or gap after it)",
        ),
        (
            "configMapGenerator:\n- name: model-pin\n  literals:\n  -\n    A=1\n",
            "cannot append to configMapGenerator[0].literals: unusual layout",
        ),
        (
            'images:\n- name: a\n  newTag: "x\n    y"\n',
            "images[0].newTag spans several lines",
        ),
    ],
)
def test_edit_refuses_what_it_cannot_do_in_place(text: str, message: str):
    requests: dict[str, Any] = {
        "images": [ImageSet("a", tag="y")] if "images" in text else [],
        "literals": [LiteralSet("model-pin", "B", "2")],
    }
    if "newTag: x" in text and "digest" in text:
        requests["images"] = [ImageSet("a", tag="y")]
    with pytest.raises(OverlayError) as info:
        edit_text(text, path="k.yaml", **requests)
    assert str(info.value) == f"k.yaml: {message}" or message in str(info.value)
    assert str(info.value).startswith("k.yaml: ")


def test_error_types_carry_what_was_unknown():
    with pytest.raises(UnknownImageError) as image_error:
        edit_text("images: []\n", images=[ImageSet("app", tag="1")], path="k.yaml")
    assert image_error.value.name == "app"
    assert image_error.value.path == "k.yaml"
    with pytest.raises(UnknownGeneratorError) as gen_error:
        edit_text("kind: Kustomization\n", literals=[LiteralSet("pin", "A", "1")])
    assert gen_error.value.generator == "pin"


def test_read_pins_of_an_overlay(tmp_path: Path):
    path = tmp_path / FILE
    path.write_bytes((TESTDATA / "comments_everywhere" / "original" / FILE).read_bytes())
    pins = read_pins(path, "modelops-app", PIN)
    assert pins.image == ImagePin(
        "modelops-app",
        "modelopsacr.azurecr.io/modelops-app",
        "0.1.0-42-abc1234",
        "sha256:" + "1" * 64,
    )
    assert pins.model == ModelPin("digits", 3, "a" * 64)
    assert pins.literals["MODEL_VERSION"] == "3"


def test_read_pins_keeps_numeric_looking_tags_as_written():
    text = (TESTDATA / "numeric_looking_tags" / "original" / FILE).read_text()
    assert read_pins_text(text, "legacy", PIN).image == ImagePin("legacy", None, "7.0", None)
    assert read_pins_text(text, "quoted", PIN).image == ImagePin("quoted", None, "0.10", None)
    assert read_pins_text(text, "single", PIN).image == ImagePin("single", None, "1925512", None)
    flow = (TESTDATA / "flow_style" / "expected" / FILE).read_text()
    pins = read_pins_text(flow, "modelops-app", PIN)
    assert pins.image is not None and pins.image.tag == "0.1.0-43-def5678"
    assert pins.image.digest == "sha256:" + "2" * 64
    assert pins.model == ModelPin("digits", 4, "b" * 64)


def test_read_pins_without_pins():
    pins = read_pins_text("kind: Kustomization\n", "modelops-app", PIN)
    assert pins.image is None and pins.model is None and pins.literals == {}


@pytest.mark.parametrize(
    ("literals", "message"),
    [
        ("[MODEL_NAME=digits]", "lacks MODEL_VERSION, MODEL_SHA256"),
        ("[MODEL_NAME=d, MODEL_VERSION=v3, MODEL_SHA256=x]", "MODEL_VERSION=v3 is not a version"),
    ],
)
def test_read_pins_refuses_a_broken_model_pin(literals: str, message: str):
    text = f"configMapGenerator:\n- name: model-pin\n  literals: {literals}\n"
    with pytest.raises(OverlayError, match=message):
        read_pins_text(text, "modelops-app", PIN, path="k.yaml")


def test_read_pins_reports_unreadable_files(tmp_path: Path):
    with pytest.raises(OverlayError, match="no such file"):
        read_pins(tmp_path / "missing.yaml", "a", PIN)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(OverlayError, match="not UTF-8"):
        read_pins(binary, "a", PIN)
    with pytest.raises(OverlayError, match="cannot read"):
        read_pins(tmp_path, "a", PIN)


def test_promotion_edits_pin_image_and_model():
    image = ImagePin("modelops-app", "r/app", "1.0", "sha256:" + "4" * 64)
    model = ModelPin("digits", 5, "c" * 64)
    images, literals = promotion_edits(image, model, PIN)
    assert images == [image_set(image)]
    assert [(x.key, x.value) for x in literals] == [
        ("MODEL_NAME", "digits"),
        ("MODEL_VERSION", "5"),
        ("MODEL_SHA256", "c" * 64),
    ]
    assert promotion_edits(None, None, PIN) == ([], [])


def test_edited_overlay_renders_with_kubectl_kustomize(tmp_path: Path):
    """The edit is what Kustomize understands: the rendered image is name:tag@digest."""
    base = tmp_path / "base"
    base.mkdir()
    (base / FILE).write_text("resources: [deploy.yaml]\n")
    (base / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n"
        "  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n"
        "    spec:\n      containers:\n      - name: app\n        image: modelops-app\n"
        "        envFrom: [{configMapRef: {name: model-pin}}]\n"
    )
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    original = (TESTDATA / "crlf_line_endings" / "original" / FILE).read_text()
    (overlay / FILE).write_text(original.replace("../../base", "../base"), newline="")
    images, literals, _ = _requests("crlf_line_endings")
    set_pins(overlay / FILE, images=images, literals=literals)
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    assert (
        "image: modelopsacr.azurecr.io/modelops-app:0.1.0-43-def5678@sha256:" + "2" * 64
    ) in rendered
    assert 'MODEL_VERSION: "4"' in rendered


def _as_yaml_reads_it(raw: str) -> str:
    """The pin a scalar written as `raw` stands for: its string value, or its text when YAML
    reads it as something else (a number, bool, null or date)."""
    value = YAML(typ="safe", pure=True).load(f"k: {raw}\n")["k"]
    return value if isinstance(value, str) else raw


@pytest.mark.parametrize(
    "raw",
    [
        "0.1.0-42-abc1234",
        "7.0",
        "0.10",
        "1925512",
        "true",
        "~",
        "null",
        "2024-01-02",
        "v1.2 with  inner   spaces",
        "'0.10'",
        "'it''s'",
        "''''",
        "''",
        "'a \"b\" \\n'",
        '"0.10"',
        '""',
        "\"plain text, no escapes: 'x'\"",
        '"tab\\there"',
        '"\\u00e9t\\u00e9 \\x41"',
        '"quote \\" inside"',
        '"back\\\\slash"',
        '"line\\nbreak"',
        '"\\e\\0\\N\\_ "',
    ],
)
def test_read_pins_reads_each_scalar_style_as_yaml_does(raw: str):
    text = (
        "kind: Kustomization\nimages:\n"
        f"  - name: app\n    newName: {raw}\n    newTag: {raw}  # comment\n    digest: {raw}\n"
    )
    flow = f"kind: Kustomization\nimages: [{{name: app, newTag: {raw}}}]\n"
    expected = _as_yaml_reads_it(raw)
    assert read_pins_text(text, "app", PIN).image == ImagePin("app", expected, expected, expected)
    if "," not in raw:  # a plain scalar cannot hold a comma in flow style
        assert read_pins_text(flow, "app", PIN).image == ImagePin("app", None, expected, None)


TRICKY_TAGS = [
    "yes", "no", "on", "off", "y", "n", "Y", "N", "true", "False", "null", "~",
    "1.0", "1e3", "010", "0x1F", "1_000", "1:20", ".5", "7.0", "0.10", "1925512",
]  # fmt: skip


def test_tricky_tags_render_exactly_with_kubectl_kustomize(tmp_path: Path):
    """Tags that are strings in YAML 1.2 but bools, nulls or numbers to kustomize's Go parser
    are quoted: the rendered image is exactly `name:tag` for every one of them."""
    containers = "".join(
        f"      - name: c{i}\n        image: img{i}\n" for i in range(len(TRICKY_TAGS))
    )
    (tmp_path / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n"
        "  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n"
        f"    spec:\n      containers:\n{containers}"
    )
    entries = "".join(f"- name: img{i}\n  newTag: v1\n" for i in range(len(TRICKY_TAGS)))
    path = tmp_path / FILE
    path.write_text(f"resources: [deploy.yaml]\nimages:\n{entries}")
    set_pins(path, images=[ImageSet(f"img{i}", tag=t) for i, t in enumerate(TRICKY_TAGS)])
    assert read_pins(path, "img0", PIN).image == ImagePin("img0", None, "yes", None)
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert rendered.returncode == 0, rendered.stderr
    deployment = YAML(typ="safe", pure=True).load(rendered.stdout)
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == [f"img{i}:{tag}" for i, tag in enumerate(TRICKY_TAGS)]


@pytest.mark.parametrize(
    ("images", "literals", "message"),
    [
        ([ImageSet("a", tag="1"), ImageSet("a", tag="2")], [], "for a"),
        ([], [LiteralSet("g", "K", "1"), LiteralSet("g", "K", "2")], "for g:K"),
    ],
)
def test_edit_text_refuses_two_requests_for_one_field(
    images: list[ImageSet], literals: list[LiteralSet], message: str
):
    text = "images:\n- name: a\n  newTag: x\nconfigMapGenerator:\n- name: g\n  literals: [K=0]\n"
    with pytest.raises(ValueError, match=f"repeated edit requests {message}$"):
        edit_text(text, images=images, literals=literals)


def _alias_bomb(depth: int) -> str:
    """An overlay whose level n lists level n-1 nine times (9**depth strings once expanded)."""
    lines = [
        "kind: Kustomization",
        "images:",
        "- name: modelops-app",
        "  newTag: 0.1.0-1-abc1234",
        'x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for n in range(1, depth + 1):
        lines.append(f"x{n}: &x{n} [{', '.join([f'*x{n - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once_naming_file_and_line(tmp_path: Path):
    path = tmp_path / FILE
    path.write_text(_alias_bomb(10))
    before = path.read_bytes()
    started = time.monotonic()
    with pytest.raises(OverlayError) as info:
        set_pins(path, images=[ImageSet("modelops-app", tag="0.1.0-2-def5678")], display="k.yaml")
    with pytest.raises(OverlayError):
        read_pins_text(before.decode(), "modelops-app", PIN, path="k.yaml")
    assert time.monotonic() - started < 2.0
    assert str(info.value) == (
        "k.yaml: x0 is written as a YAML anchor, alias or tag (line 5: anchor &x0); "
        "anchors and aliases have no place in an overlay"
    )
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images:\n- &app {name: a, newTag: x}\n", "images[0] is written as a YAML anchor"),
        (
            "a: [x]\nb: {<<: *a}\n",
            "b.<< is written as a YAML anchor, alias or tag (line 2: alias *a)",
        ),
        ("a: &a {k: v}\nb:\n  <<: *a\n", "a is written as a YAML anchor, alias or tag (line 1"),
        (
            "images:\n- name: app\n  newTag: *t\n",
            "images[0].newTag is written as a YAML anchor, alias or tag (line 3: alias *t)",
        ),
    ],
)
def test_anchors_and_aliases_anywhere_are_refused(text: str, message: str):
    with pytest.raises(OverlayError, match=re.escape(message)):
        edit_text(text, images=[ImageSet("app", tag="y")])
