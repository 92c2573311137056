"""`--image` and `--literal` specs, as `kustomize edit set image` reads them."""

from __future__ import annotations

import pytest

from bot.errors import SpecError
from bot.imagespec import parse_image_spec, parse_literal_spec, split_registry
from bot.kustomize import ImageSet, LiteralSet

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("app:1.0", ImageSet("app", tag="1.0")),
        (f"app@{D}", ImageSet("app", digest=D)),
        (f"app:1.0@{D}", ImageSet("app", tag="1.0", digest=D)),
        ("app=acr.io/team/app", ImageSet("app", new_name="acr.io/team/app")),
        ("app=acr.io/app:7.0", ImageSet("app", new_name="acr.io/app", tag="7.0")),
        (f"app=acr.io/app:1@{D}", ImageSet("app", new_name="acr.io/app", tag="1", digest=D)),
        (f"app=acr.io/app@{D}", ImageSet("app", new_name="acr.io/app", digest=D)),
        ("127.0.0.1:5000/app:1.0", ImageSet("127.0.0.1:5000/app", tag="1.0")),
        (f"127.0.0.1:5000/app@{D}", ImageSet("127.0.0.1:5000/app", digest=D)),
        (
            f"modelops-app=127.0.0.1:5000/modelops-app:0.1.0-42-abc1234@{D}",
            ImageSet("modelops-app", "127.0.0.1:5000/modelops-app", "0.1.0-42-abc1234", D),
        ),
        ("app=127.0.0.1:5000/app", ImageSet("app", new_name="127.0.0.1:5000/app")),
        ("localhost:5000/ns/app:v2", ImageSet("localhost:5000/ns/app", tag="v2")),
    ],
)
def test_parse_image_spec(spec: str, expected: ImageSet):
    assert parse_image_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty or contains spaces"),
        ("app :1", "empty or contains spaces"),
        ("app", "give a tag"),
        ("127.0.0.1:5000/app", "give a tag"),
        ("app@sha256:abc", "invalid digest"),
        ("app@md5:" + "a" * 64, "invalid digest"),
        ("app:bad/tag", "give a tag"),
        ("app:", "invalid tag ''"),
        ("app:-x", "invalid tag '-x'"),
        ("=acr.io/app:1", "invalid image name ''"),
        ("app=", "invalid image name ''"),
        (":1.0", "invalid image name ''"),
    ],
)
def test_parse_image_spec_refuses(spec: str, message: str):
    with pytest.raises(SpecError) as info:
        parse_image_spec(spec)
    assert message in str(info.value)


def test_parse_literal_spec():
    assert parse_literal_spec("model-pin:MODEL_VERSION=4") == LiteralSet(
        "model-pin", "MODEL_VERSION", "4"
    )
    assert parse_literal_spec("g:K=a=b:c") == LiteralSet("g", "K", "a=b:c")
    assert parse_literal_spec("g:EMPTY=") == LiteralSet("g", "EMPTY", "")


@pytest.mark.parametrize("spec", ["MODEL_VERSION=4", "g:=4", "g:K", ":K=1", "g:1K=1"])
def test_parse_literal_spec_refuses(spec: str):
    with pytest.raises(SpecError, match="want GENERATOR:KEY=VALUE"):
        parse_literal_spec(spec)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("127.0.0.1:5000/modelops-app", ("127.0.0.1:5000", "modelops-app")),
        ("acr.azurecr.io/team/app", ("acr.azurecr.io", "team/app")),
        ("localhost/app", ("localhost", "app")),
        ("registry:443/app", ("registry:443", "app")),
        ("team/app", (None, "team/app")),
        ("modelops-app", (None, "modelops-app")),
    ],
)
def test_split_registry_follows_the_reference_grammar(name, expected):
    assert split_registry(name) == expected
