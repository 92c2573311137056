"""What a promotion would write: one edit result feeds the commit, the PR table and the diff.

Pure: the shipped `promotion.yaml` and dev overlay, edited in memory (no git, no services).
"""

from __future__ import annotations

from pathlib import Path

from bot.adapters.git import BOT_EMAIL
from bot.core.model import Candidates, ImagePin, ModelPin, State
from bot.core.plan import ImageChange, ModelChange, Promotion
from bot.policy import parse_policy
from bot.world import World, is_promotion, propose

REPO = Path(__file__).resolve().parents[2]
OVERLAY = "deploy/overlays/dev/kustomization.yaml"
TEXT = (REPO / OVERLAY).read_text()
OLD_DIGEST = "sha256:437eebb1a327834c621fb130fbc28cc69c282c3e9b0e1d64551445ad9e43783c"
NEW_DIGEST = "sha256:" + "b" * 64
OLD_SHA = "7a0f3d87d0b46a07430c5fc828116bf0e687f986572d61d28a671b89dcb4a2e6"
NAME = "modelopsacr.azurecr.io/modelops-app"


def _world() -> World:
    policy = parse_policy((REPO / "promotion.yaml").read_text(), "promotion.yaml")
    return World("main", "f" * 40, policy, State(), Candidates(), {"dev": TEXT})


def _promotion(*, model: bool = True) -> Promotion:
    return Promotion(
        env="dev",
        overlay=OVERLAY,
        image=ImageChange(
            ImagePin("modelops-app", NAME, "0.1.0-1-0a1b2c3", OLD_DIGEST),
            ImagePin("modelops-app", NAME, "0.1.0-2-1b2c3d4", NEW_DIGEST),
        ),
        model=ModelChange(ModelPin("digits", 1, OLD_SHA), ModelPin("digits", 2, "c" * 64))
        if model
        else None,
    )


def test_the_commit_message_lists_exactly_what_the_edit_changed():
    proposal = propose(_world(), _promotion(), None)
    subject, blank, *body = proposal.commit_message().splitlines()
    assert subject == "promote(dev): image 0.1.0-1-0a1b2c3 → 0.1.0-2-1b2c3d4, model digits v1 → v2"
    assert blank == ""
    assert body == proposal.changes.lines()
    assert f"{OVERLAY}: images[modelops-app].digest: {OLD_DIGEST} -> {NEW_DIGEST}" in body
    assert f"{OVERLAY}: configMapGenerator[model-pin].MODEL_VERSION: 1 -> 2" in body
    assert not any("MODEL_NAME" in line for line in body)  # unchanged: not listed


def test_the_pr_table_has_one_row_per_changed_value():
    body = propose(_world(), _promotion(), None).body
    assert "| image tag | `0.1.0-1-0a1b2c3` | **`0.1.0-2-1b2c3d4`** |" in body
    assert "| image digest | `sha256:437eebb1a327…` | **`sha256:bbbbbbbbbbbb…`** |" in body
    assert "| model version | digits v1 | **digits v2** |" in body
    assert "| model sha256 | `7a0f3d87d0b4…` | **`cccccccccccc…`** |" in body
    assert "image name" not in body  # the registry did not change
    image_only = propose(_world(), _promotion(model=False), None).body
    assert "model version" not in image_only


def test_the_diff_covers_the_changed_file_and_only_the_pins():
    proposal = propose(_world(), _promotion(model=False), None)
    diff = proposal.diff()
    assert diff.startswith(f"--- a/{OVERLAY}\n+++ b/{OVERLAY}\n")
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-    newTag: 0.1.0-1-0a1b2c3",
        f"-    digest: {OLD_DIGEST}",
        "+    newTag: 0.1.0-2-1b2c3d4",
        f"+    digest: {NEW_DIGEST}",
    ]


def test_a_promotion_to_what_is_pinned_writes_nothing():
    pinned = Promotion(
        env="dev",
        overlay=OVERLAY,
        image=ImageChange(None, ImagePin("modelops-app", NAME, "0.1.0-1-0a1b2c3", OLD_DIGEST)),
        model=None,
    )
    proposal = propose(_world(), pinned, None)
    assert proposal.changes.is_empty
    assert proposal.new_text == TEXT
    assert proposal.diff() == ""
    assert proposal.commit_message().splitlines()[2:] == []


def test_a_promotion_needs_the_bots_author_and_a_promotion_subject():
    """The subject alone never makes a promotion (anyone writes any subject), nor the author
    alone (the bot's `rollback` commits act for a person)."""
    account = "7+promotion-bot[bot]@users.noreply.github.com"
    is_bot = {BOT_EMAIL, account}.__contains__
    assert is_promotion(BOT_EMAIL, "promote(dev): image 2", is_bot)
    assert is_promotion(account, "Promote dev: image 2 (#12)", is_bot)
    assert is_promotion(account, "Merged PR 12: Promote dev: image 2", is_bot)
    assert not is_promotion(account, "rollback(dev): image 2 → 1", is_bot)
    assert not is_promotion("ann@example.com", "Promote dev: image 2 (#12)", is_bot)
    # without the forge (no credentials) only the bot's git identity is the bot
    assert not is_promotion(account, "Promote dev: image 2 (#12)")
    assert not is_promotion(BOT_EMAIL, 'Revert "promote(dev): image 2"', is_bot)
