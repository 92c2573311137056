"""Rollbacks stick: which pins a person rolled an environment back from, and the gate that
keeps them from being proposed again while a newer candidate passes with a note."""

from __future__ import annotations

from dataclasses import replace

from bot.core.gates import Candidate, Evidence, RolledBack, Verdict
from bot.core.model import ImagePin
from bot.core.plan import plan
from bot.core.rollback import PinsChange, Rollback, rolled_back, same_image
from tests.bot.core.builders import (
    HOUR,
    NOW,
    candidates,
    env,
    image,
    ipin,
    model,
    mpin,
    policy,
    state,
)

DEV_TAGS = policy().tag_policy("dev")


def change(
    sha: str,
    before: tuple[int, int] | None,
    after: tuple[int, int] | None,
    *,
    by_bot: bool = False,
) -> PinsChange:
    return PinsChange(
        sha,
        f"commit {sha}",
        by_bot,
        ipin(before[0]) if before else None,
        ipin(after[0]) if after else None,
        mpin(before[1]) if before else None,
        mpin(after[1]) if after else None,
    )


PROMOTED = change("p1", (1, 1), (2, 2), by_bot=True)
REVERT = change("r1", (2, 2), (1, 1))


def test_a_persons_backward_move_rejects_the_image_and_model_it_moved_away_from():
    found = rolled_back([PROMOTED, REVERT], DEV_TAGS)
    assert found == (
        Rollback("r1", "commit r1", image=ipin(2)),
        Rollback("r1", "commit r1", model=mpin(2)),
    )
    assert found[0].describe() == f"image {ipin(2).tag} was rolled back by r1 (commit r1)"
    assert found[1].what == "model v2"


def test_the_bots_own_moves_and_forward_moves_reject_nothing():
    bot_back = change("b", (2, 2), (1, 1), by_bot=True)  # allow_downgrade: the bot's own move
    assert rolled_back([PROMOTED, bot_back], DEV_TAGS) == ()
    assert rolled_back([change("h", (1, 1), (2, 2))], DEV_TAGS) == ()  # a person's `set` forward
    assert rolled_back([change("seed", None, (1, 1)), change("gone", (1, 1), None)], DEV_TAGS) == ()


def test_a_repushed_tag_or_a_model_of_another_name_is_not_a_rollback():
    repushed = PinsChange("x", "s", False, ipin(2), ipin(2, repushed=True), None, None)
    other = PinsChange("y", "s", False, None, None, mpin(2), mpin(1, name="other"))
    no_tag = PinsChange(
        "z", "s", False, ImagePin("a", "r/a", None, "sha256:1"), ipin(1), None, None
    )
    assert rolled_back([repushed, other, no_tag], DEV_TAGS) == ()


def test_a_person_moving_back_to_a_rejected_pin_approves_it_again():
    reapproved = change("h2", (1, 1), (2, 2))
    assert rolled_back([PROMOTED, REVERT, reapproved], DEV_TAGS) == ()
    # ... but the bot's move there (a promotion from before rollbacks were recorded) does not
    bot_again = change("p2", (1, 1), (2, 2), by_bot=True)
    assert len(rolled_back([PROMOTED, REVERT, bot_again], DEV_TAGS)) == 2


def test_images_are_the_same_by_digest_or_else_by_reference():
    assert same_image(ipin(2), ipin(2))
    assert not same_image(ipin(2), ipin(2, repushed=True))
    assert same_image(ImagePin("a", "r/a", "t"), ImagePin("b", "r/a", "t"))


REJECTED = rolled_back([PROMOTED, REVERT], DEV_TAGS)
DEV = replace(env("dev", 1, 1, NOW - 48 * HOUR), rolled_back=REJECTED)
SETTLED = state(DEV, *(env(name, 1, 1, NOW - 48 * HOUR) for name in ("staging", "prod")))


def _evidence() -> Evidence:
    pol = policy()
    world = candidates([image(1), image(2), image(3)], [model(1), model(2)])
    return Evidence(pol.environment("dev"), DEV_TAGS, DEV, SETTLED, world, NOW)


def test_the_gate_refuses_a_rolled_back_pin_and_notes_it_on_a_newer_one():
    gate = RolledBack()
    refused = gate.evaluate(Candidate(ipin(2), mpin(1), image_moves=True), _evidence())
    assert refused.verdict is Verdict.REFUSED
    assert refused.reasons == (f"{REJECTED[0].describe()}: not proposing it again",)
    newer = gate.evaluate(Candidate(ipin(3), mpin(1), image_moves=True), _evidence())
    assert newer.verdict is Verdict.PASSED
    assert newer.checks[0].detail.startswith("an earlier candidate, image ")
    assert newer.data == {"rolled_back": [{"what": REJECTED[0].what, "commit": "r1"}]}
    model_back = gate.evaluate(Candidate(ipin(1), mpin(2), model_moves=True), _evidence())
    assert model_back.reasons == (f"{REJECTED[1].describe()}: not proposing it again",)
    untouched = gate.evaluate(Candidate(ipin(1), mpin(1)), _evidence())
    assert untouched.verdict is Verdict.PASSED and untouched.checks == ()


def test_the_planner_does_not_repropose_a_rollback_but_promotes_a_newer_image():
    pol = policy()
    same = plan(SETTLED, candidates([image(1), image(2)], [model(1), model(2)]), pol, NOW)
    dev = same.envs[0]
    assert dev.promotion is None and dev.held is None
    assert any("was rolled back by r1" in reason for reason in dev.reasons)

    newer = plan(SETTLED, candidates([image(1), image(3)], [model(1), model(2)]), pol, NOW)
    promotion = newer.envs[0].promotion
    assert promotion is not None and promotion.image is not None
    assert promotion.image.after == ipin(3) and promotion.model is None  # model v2 stays out
    rows = [c.detail for c in promotion.checks if c.name == "rollback"]
    assert rows == [f"an earlier candidate, {REJECTED[0].describe()}; this is another"]
