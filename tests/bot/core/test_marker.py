"""The hidden marker: what a PR body proposed, read back without diffing prose."""

from __future__ import annotations

import json

import pytest

from bot.core.marker import marker_data, read_marker, same_body, same_target, with_marker
from bot.core.model import ImagePin, ModelPin
from bot.core.plan import ImageChange, ModelChange, Promotion

DIGEST = "sha256:" + "b" * 64
PROMOTION = Promotion(
    env="dev",
    overlay="deploy/overlays/dev/kustomization.yaml",
    image=ImageChange(None, ImagePin("modelops-app", "r.io/app", "2", DIGEST)),
    model=ModelChange(ModelPin("digits", 1, "a" * 64), ModelPin("digits", 2, "c" * 64)),
)


def test_the_marker_carries_the_target_pins_and_the_body_hash():
    body = with_marker(PROMOTION, "Promotes dev.")
    marker = read_marker(body)
    assert marker is not None
    assert marker["image"] == {"tag": "2", "digest": DIGEST}
    assert marker["model"] == {"name": "digits", "version": 2, "sha256": "c" * 64}
    assert isinstance(marker["body_sha256"], str)
    assert body.startswith("Promotes dev.\n\n<!-- promotion-bot: ")


def test_foreign_or_broken_bodies_have_no_marker():
    assert read_marker("written by a person") is None
    assert read_marker("<!-- promotion-bot: {not json} -->") is None
    assert read_marker("") is None


def test_only_a_last_marker_at_the_end_of_the_body_counts():
    body = with_marker(PROMOTION, "Promotes dev.")
    spoof = '<!-- promotion-bot: {"env": "prod", "body_sha256": "' + "0" * 64 + '"} -->'
    assert read_marker(spoof + "\n" + body) == read_marker(body)
    assert read_marker(body + "\n\nedited below the marker by a reviewer") is None
    assert read_marker(body + "  \r\n") == read_marker(body)


def _with_data(data: object) -> str:
    return "prose\n\n<!-- promotion-bot: " + json.dumps(data) + " -->\n"


GOOD = {
    "env": "dev",
    "image": {"tag": "2", "digest": None},
    "model": {"name": "digits", "version": 2, "sha256": "c" * 64},
    "body_sha256": "d" * 64,
}


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"env": 3},
        {"body_sha256": "short"},
        {"body_sha256": None},
        {"image": "r.io/app:2"},
        {"image": {"tag": "2"}},
        {"image": {"tag": 2, "digest": None}},
        {"image": {"tag": None, "digest": 5}},
        {"model": ["digits"]},
        {"model": {"name": "digits", "version": 2}},
        {"model": {"name": 1, "version": 2, "sha256": "c" * 64}},
        {"model": {"name": "digits", "version": "2", "sha256": "c" * 64}},
        {"model": {"name": "digits", "version": True, "sha256": "c" * 64}},
        {"model": {"name": "digits", "version": 2, "sha256": 7}},
        {"model": {"name": "digits", "version": 2, "sha256": "C" * 64}},
    ],
)
def test_a_marker_of_another_shape_is_foreign(change: dict[str, object]) -> None:
    assert read_marker(_with_data(GOOD)) == GOOD
    assert read_marker(_with_data({**GOOD, **change})) is None


def test_a_marker_without_image_or_model_is_well_formed() -> None:
    only_env = {"env": "dev", "body_sha256": "d" * 64}
    assert read_marker(_with_data(only_env)) == only_env


def test_same_body_compares_markers_not_prose():
    body = with_marker(PROMOTION, "text")
    assert same_body(body, with_marker(PROMOTION, "text"))
    assert not same_body(body, with_marker(PROMOTION, "other text"))
    assert not same_body(body, "no marker in what we would write")


def test_same_target_ignores_the_prose_but_not_the_pins():
    marker = read_marker(with_marker(PROMOTION, "any prose"))
    assert marker is not None
    assert same_target(marker, PROMOTION)
    older = Promotion(PROMOTION.env, PROMOTION.overlay, PROMOTION.image, None)
    assert not same_target(marker, older)
    assert marker_data(older) == {"env": "dev", "image": {"tag": "2", "digest": DIGEST}}
    model_only = Promotion(PROMOTION.env, PROMOTION.overlay, None, PROMOTION.model)
    assert set(marker_data(model_only)) == {"env", "model"}
