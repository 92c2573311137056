"""The hidden marker: what a PR body proposed, read back without diffing prose."""

from __future__ import annotations

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
