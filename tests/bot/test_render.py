"""The CLI's text comes from structured results: one function per result, no string surgery."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot import render
from bot.api import EnvStatus, ReleaseStep
from bot.core.confirm import Confirmation, ConfirmMode, DeployStatus
from bot.core.model import EnvState, ImagePin, ModelPin
from bot.core.plan import EnvPlan, ImageChange, ModelChange, Plan, Promotion
from bot.core.policy import Hold, HoldScope
from bot.core.pr_action import PrActionKind
from bot.core.release_gate import ReleaseWait, Wait
from bot.core.rollback import Rollback
from bot.forge import PullRequest
from bot.runner import EnvOutcome

OVERLAY = "deploy/overlays/staging/kustomization.yaml"
PROMOTION = Promotion(
    env="staging",
    overlay=OVERLAY,
    image=ImageChange(ImagePin("app", tag="1"), ImagePin("app", tag="2")),
    model=ModelChange(ModelPin("digits", 3, "a" * 64), ModelPin("digits", 4, "b" * 64)),
)
PROMOTE = EnvPlan("staging", OVERLAY, promotion=PROMOTION, reasons=("dev runs it",))
HELD = EnvPlan("staging", OVERLAY, held=PROMOTION, reasons=("soaking: 1h of 2h",))
NOTHING = EnvPlan("prod", "deploy/overlays/prod/kustomization.yaml", reasons=("up to date",))


def test_plan_lines_name_what_moves_without_repeating_the_environment():
    lines = render.plan_lines(Plan(datetime.now(UTC), (PROMOTE, NOTHING)))
    assert lines == [
        "staging: PROMOTE image 1 → 2, model digits v3 → v4",
        "  - dev runs it",
        "prod: nothing to do",
        "  - up to date",
    ]
    assert render.plan_lines(Plan(datetime.now(UTC), (HELD,)))[0] == (
        "staging: HELD image 1 → 2, model digits v3 → v4"
    )


def test_outcome_lines_say_would_only_for_writes_in_a_dry_run():
    create = EnvOutcome("dev", PrActionKind.PUSH_CREATE, "image 1 → 2")
    hold = EnvOutcome("staging", PrActionKind.HOLD, "soaking")
    assert render.outcome_line(create, dry_run=True) == "dev: would push+create: image 1 → 2"
    assert render.outcome_line(hold, dry_run=True) == "staging: hold: soaking"
    merged = EnvOutcome("dev", PrActionKind.PUSH_CREATE, "image 1 → 2", pr_number=7, merged=True)
    assert render.outcome_line(merged, dry_run=False) == (
        "dev: push+create+merged (PR #7): image 1 → 2"
    )
    again = EnvOutcome("dev", PrActionKind.MERGE, "automerge allowed", pr_number=7, merged=True)
    assert render.outcome_line(again, dry_run=False) == "dev: merged (PR #7): automerge allowed"


def test_an_outcome_wrote_when_its_action_writes_or_it_merged():
    assert not EnvOutcome("dev", PrActionKind.NOOP, "").wrote
    assert EnvOutcome("dev", PrActionKind.CLOSE, "").wrote
    assert EnvOutcome("dev", PrActionKind.MERGE, "", merged=True).wrote


def test_status_fields_are_the_text_of_each_part():
    pr = PullRequest(
        9, "Promote staging: …", "", "promote/staging", "f" * 40, "main", "open", False, (), "u"
    )
    row = EnvStatus(
        env="staging",
        on_main=EnvState("staging", ImagePin("app", tag="1"), ModelPin("digits", 3, "a" * 64)),
        released=None,
        pending_pr=pr,
        plan=PROMOTE,
    )
    assert render.status_fields(row) == {
        "env": "staging",
        "on_main": "image 1, model digits v3",
        "released": "(no release yet)",
        "pending_pr": "#9 Promote staging: …",
        "next_step": "promote: image 1 → 2, model digits v3 → v4",
        "hold": "none",
        "rejected": "none",
        "confirmed": "nothing released",
        "release": "unknown",
        "release_waits": "none",
        "release_eligible_at": "none",
    }
    assert not any(line.startswith("  hold:") for line in render.status_lines(row))
    assert not any(line.startswith("  rejected:") for line in render.status_lines(row))
    back = Rollback("c" * 40, "revert: bad model", model=ModelPin("digits", 4, "b" * 64))
    rejected_row = replace(row, on_main=replace(row.on_main, rolled_back=(back,)))
    said = f"model v4 was rolled back by {'c' * 12} (revert: bad model)"
    assert render.status_fields(rejected_row)["rejected"] == said
    assert f"  rejected:   {said}" in render.status_lines(rejected_row)
    held_row = replace(row, hold=Hold(HoldScope.MODEL, "incident 42", "ann"))
    assert render.status_fields(held_row)["hold"] == "model held by ann: incident 42"
    assert "  hold:       model held by ann: incident 42" in render.status_lines(held_row)
    bare = EnvStatus("prod", EnvState("prod"), EnvState("prod"), None, NOTHING)
    fields = render.status_fields(bare)
    assert (fields["on_main"], fields["released"]) == ("image —, model —", "image —, model —")
    assert (fields["pending_pr"], fields["next_step"]) == ("none", "up to date: up to date")
    held = render.status_lines(EnvStatus("staging", EnvState("staging"), None, None, HELD))
    assert "  next:       held: soaking: 1h of 2h" in held


CS = ConfirmMode.COMMIT_STATUS


def test_status_says_what_the_cluster_confirmed_and_since_when():
    at = datetime(2026, 11, 27, 13, 5, tzinfo=UTC)
    ok = DeployStatus("c" * 40, "kustomization/modelops-dev/aks", "success", at, 3)
    bad = DeployStatus("c" * 40, "continuous-delivery/modelops-dev", "error", at, 4)
    pending = DeployStatus("c" * 40, "continuous-delivery/modelops-dev", "pending", at, 5)
    cases = [
        (Confirmation("dev", CS, at, ok), "healthy since 2026-11-27T13:05:00Z (flux: "
         "kustomization/modelops-dev/aks on cccccccccccc)"),
        (Confirmation("dev", CS, reset_by=bad), "unhealthy: continuous-delivery/modelops-dev "
         "error on cccccccccccc at 2026-11-27T13:05:00Z"),
        (Confirmation("dev", CS, waiting=(pending.context,)),
         "not yet: no success from continuous-delivery/modelops-dev"),
        (Confirmation("dev", CS), "not confirmed: no deployment status on the release"),
        (Confirmation("dev", CS, unknown="GITHUB_TOKEN is not set"),
         "unknown (GITHUB_TOKEN is not set)"),
    ]  # fmt: skip
    for found, text in cases:
        row = EnvStatus("dev", EnvState("dev"), EnvState("dev"), None, NOTHING, confirmed=found)
        assert render.status_fields(row)["confirmed"] == text
        assert f"  confirmed:  {text}" in render.status_lines(row)


def test_terminal_lines_show_escapes_from_outside_as_replacement_characters():
    hostile = ImagePin("app", tag="2\x1b]0;owned\x07")
    promotion = Promotion(
        env="staging",
        overlay=OVERLAY,
        image=ImageChange(ImagePin("app", tag="1"), hostile),
        model=None,
    )
    plan = EnvPlan("staging", OVERLAY, promotion=promotion, reasons=("tag\x1b[2J\nnext line",))
    lines = render.plan_lines(Plan(datetime.now(UTC), (plan,)))
    assert all("\x1b" not in line and "\x07" not in line for line in lines)
    assert lines[1] == "  - tag\ufffd[2J next line"
    assert len(lines) == 2


# --------------------------------------------------------------------------- the release step

AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _release(step: ReleaseStep | None) -> tuple[str, str, str, list[str]]:
    row = EnvStatus("staging", EnvState("staging"), None, None, NOTHING, release=step)
    fields = render.status_fields(row)
    lines = render.status_lines(row)
    return fields["release"], fields["release_waits"], fields["release_eligible_at"], lines


def _waiting(wait: ReleaseWait, zone: str = "UTC") -> tuple[str, str, str, list[str]]:
    return _release(ReleaseStep(False, wait, zone))


def test_the_release_step_is_up_to_date_or_can_release():
    assert _release(ReleaseStep(True))[:3] == ("released up to date", "none", "none")
    text, waits, at, lines = _release(ReleaseStep(False))
    assert text == (
        "can release: the next nightly release moves release/staging to main "
        "(if main passes its checks)"
    )
    assert (waits, at) == ("none", "none")
    assert f"  release:    {text}" in lines


def test_each_release_wait_says_why_and_when_in_the_environments_zone_and_utc():
    soak = (
        "soak in dev: dev confirmed healthy for 20m (needs 1h): …; eligible at 2026-11-28T09:00:00Z"
    )
    text, waits, at, _ = _waiting(ReleaseWait(soak, (Wait.SOAK,), AT), "Europe/Berlin")
    assert text == (
        f"release waits: {soak}; eligible at 2026-11-28T10:00:00+01:00 "
        "(Europe/Berlin; 2026-11-28T09:00:00Z)"
    )
    assert (waits, at) == ("soak", "2026-11-28T09:00:00Z")

    outside = "soak in dev of 1 change(s) outside the pins since eeeeeeeeeeee, newest cccc: …"
    text, waits, at, _ = _waiting(ReleaseWait(outside, (Wait.SOAK, Wait.OUTSIDE), AT))
    assert text == f"release waits: {outside}; eligible at 2026-11-28T09:00:00Z"
    assert (waits, at) == ("soak, outside", "2026-11-28T09:00:00Z")

    first = "soak in dev of everything it renders (a first release): … (no deployment status)"
    text, waits, at, _ = _waiting(ReleaseWait(first, (Wait.FIRST_RELEASE,)))
    assert text == f"release waits: {first}; eligible: not yet known (no confirmation yet)"
    assert (waits, at) == ("first-release", "none")

    frozen = "staging is frozen: window 'weekend' open until 2026-11-28T09:00:00+00:00"
    text, waits, at, _ = _waiting(ReleaseWait(frozen, (Wait.FREEZE,), AT, earliest=True))
    assert text == f"release waits: {frozen}; eligible at the earliest 2026-11-28T09:00:00Z"
    assert (waits, at) == ("freeze", "2026-11-28T09:00:00Z")

    held = "staging is held: everything held by ann: incident 42"
    text, waits, at, _ = _waiting(ReleaseWait(held, (Wait.HOLD,), None, earliest=True))
    assert text == f"release waits: {held}; eligible: not yet known (until the hold is lifted)"
    assert (waits, at) == ("hold", "none")


def test_a_release_reason_from_outside_is_one_inert_terminal_line():
    hostile = "staging is held: everything held by \x1b[31mann\x1b[0m:\nincident"
    *_, lines = _waiting(ReleaseWait(hostile, (Wait.HOLD,)))
    [line] = [line for line in lines if line.startswith("  release:")]
    assert "\x1b" not in line and "\n" not in line
