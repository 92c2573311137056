"""`decide_pr_action`: the pure table of what happens to an environment's branch and PR."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot import pr_body
from bot.core.checks import ChecksVerdict, Verdict
from bot.core.marker import read_marker
from bot.core.model import ImagePin
from bot.core.plan import EnvPlan, ImageChange, Promotion
from bot.core.policy import Reviewer
from bot.core.pr_action import (
    PUSHED_WAITS,
    Asked,
    PrActionKind,
    RejectedPr,
    RemoteBranch,
    branch_for,
    could_create,
    decide_pr_action,
    reads_checks,
)
from bot.forge import PullRequest
from bot.kustomize import UpdateResult

TEXT = "images:\n  - name: modelops-app\n    newTag: '2'\n"
PROMOTION = Promotion(
    env="dev",
    overlay="deploy/overlays/dev/kustomization.yaml",
    image=ImageChange(ImagePin("modelops-app", tag="1"), ImagePin("modelops-app", tag="2")),
    model=None,
)
TITLE = pr_body.title(PROMOTION)
BODY = pr_body.render(PROMOTION, None, UpdateResult(), model_pin="model-pin")


def _pr(
    title: str = TITLE,
    body: str = BODY,
    labels: tuple[str, ...] = (),
    requested: tuple[str, ...] = (),
) -> PullRequest:
    return PullRequest(
        7, title, body, "promote/dev", "f" * 40, "main", "open", False, labels, "http://x/7",
        requested=tuple(map(Reviewer.parse, requested)),
    )  # fmt: skip


CURRENT = RemoteBranch("f" * 40, parent_is_main=True, overlay_text=TEXT)
STALE_BASE = RemoteBranch("f" * 40, parent_is_main=False, overlay_text=TEXT)
OTHER_TEXT = RemoteBranch("f" * 40, parent_is_main=True, overlay_text="old")
HUMAN = RemoteBranch("f" * 40, parent_is_main=True, overlay_text=TEXT, foreign_authors=("a@x",))
# the bot's identity on every commit, but not the content the bot wrote (an amend as the bot)
HAND_EDITED = RemoteBranch(
    "f" * 40, parent_is_main=True, overlay_text=TEXT, hand_edit="changes NOTE.md"
)
NO_BRANCH = RemoteBranch(None)
PROMOTE = EnvPlan("dev", PROMOTION.overlay, promotion=PROMOTION)
HELD = EnvPlan("dev", PROMOTION.overlay, held=PROMOTION, reasons=("soaking",))
NOTHING = EnvPlan("dev", PROMOTION.overlay, reasons=("up to date",))


@pytest.mark.parametrize(
    ("env_plan", "pr", "branch", "posted", "automerge", "kind"),
    [
        (NOTHING, None, NO_BRANCH, False, False, "none"),
        (NOTHING, _pr(), CURRENT, False, False, "close"),
        (HELD, _pr(), CURRENT, False, False, "hold"),
        (HELD, None, NO_BRANCH, False, False, "hold"),
        (PROMOTE, None, NO_BRANCH, False, False, "push+create"),
        (PROMOTE, None, CURRENT, False, False, "push+create"),
        (PROMOTE, _pr(), NO_BRANCH, False, False, "push+update"),
        (PROMOTE, _pr(), STALE_BASE, False, False, "push+update"),
        (PROMOTE, _pr(), OTHER_TEXT, False, False, "push+update"),
        (PROMOTE, _pr(title="old title"), CURRENT, False, False, "update"),
        (PROMOTE, _pr(body="hand-written"), CURRENT, False, False, "update"),
        (PROMOTE, _pr(), CURRENT, False, False, "noop"),
        (PROMOTE, _pr(), CURRENT, False, True, "noop"),  # its checks were not read: wait
        (PROMOTE, _pr(), HUMAN, False, False, "comment-human"),
        (PROMOTE, _pr(), HUMAN, True, False, "noop"),
        (PROMOTE, _pr(), HUMAN, True, True, "noop"),
        (PROMOTE, None, HUMAN, False, False, "noop"),
        (PROMOTE, _pr(), HAND_EDITED, False, False, "comment-human"),
        (PROMOTE, _pr(), HAND_EDITED, True, True, "noop"),
        (PROMOTE, None, HAND_EDITED, False, False, "noop"),
        (PROMOTE, None, RemoteBranch(None, hand_edit="stale fact"), False, False, "push+create"),
    ],
)
def test_decision_table(env_plan, pr, branch, posted, automerge, kind):
    action = decide_pr_action(
        env_plan,
        pr,
        branch,
        new_text=TEXT if env_plan.promotion else None,
        title=TITLE if env_plan.promotion else None,
        body=BODY if env_plan.promotion else None,
        human_comment_posted=posted,
        automerge=automerge,
    )
    assert action.kind == kind
    assert action.env == "dev"


def test_a_human_branch_without_pr_names_the_authors_and_what_to_do():
    action = decide_pr_action(PROMOTE, None, HUMAN, new_text=TEXT, title=TITLE, body=BODY)
    assert "a@x" in action.reason
    assert "delete the branch" in action.reason


@pytest.mark.parametrize(
    ("branch", "says"),
    [(HUMAN, "branch has commits by a@x"), (HAND_EDITED, "edited by hand (changes NOTE.md)")],
)
def test_a_human_branch_says_who_or_what_and_is_not_overwritten(branch, says):
    action = decide_pr_action(PROMOTE, _pr(), branch, new_text=TEXT, title=TITLE, body=BODY)
    assert action.kind == "comment-human"
    assert says in action.reason
    assert not could_create(PROMOTE, None, branch)


def test_writes_carry_everything_execute_needs():
    action = decide_pr_action(PROMOTE, None, NO_BRANCH, new_text=TEXT, title=TITLE, body=BODY)
    assert (action.promotion, action.new_text, action.title, action.body) == (
        PROMOTION,
        TEXT,
        TITLE,
        BODY,
    )


def _rejected(promotion: Promotion, number: int = 5) -> RejectedPr:
    marker = read_marker(pr_body.render(promotion, None, UpdateResult(), model_pin="model-pin"))
    assert marker is not None
    return RejectedPr(number, marker)


def test_a_promotion_a_reviewer_rejected_is_held_naming_the_pr():
    action = decide_pr_action(
        PROMOTE,
        None,
        CURRENT,
        new_text=TEXT,
        title=TITLE,
        body=BODY,
        rejected=[_rejected(PROMOTION)],
    )
    assert action.kind == "hold"
    assert action.reason == "rejected in #5 (reopen it or register a newer candidate)"


def test_a_newer_candidate_than_the_rejected_one_is_proposed():
    older = Promotion(
        env="dev",
        overlay=PROMOTION.overlay,
        image=ImageChange(ImagePin("modelops-app", tag="1"), ImagePin("modelops-app", tag="1b")),
        model=None,
    )
    action = decide_pr_action(
        PROMOTE, None, NO_BRANCH, new_text=TEXT, title=TITLE, body=BODY, rejected=[_rejected(older)]
    )
    assert action.kind == "push+create"


@pytest.mark.parametrize(
    ("kind", "pushes", "writes"),
    [
        (PrActionKind.NONE, False, False),
        (PrActionKind.HOLD, False, False),
        (PrActionKind.NOOP, False, False),
        (PrActionKind.CLOSE, False, True),
        (PrActionKind.COMMENT_HUMAN, False, True),
        (PrActionKind.PUSH_CREATE, True, True),
        (PrActionKind.PUSH_UPDATE, True, True),
        (PrActionKind.UPDATE, False, True),
        (PrActionKind.MERGE, False, True),
    ],
)
def test_each_kind_says_whether_it_pushes_and_writes(kind, pushes, writes):
    assert (kind.pushes, kind.writes) == (pushes, writes)


@pytest.mark.parametrize(
    ("env_plan", "pr", "branch", "expected"),
    [
        (PROMOTE, None, NO_BRANCH, True),
        (PROMOTE, None, CURRENT, True),
        (PROMOTE, _pr(), CURRENT, False),
        (PROMOTE, None, HUMAN, False),
        (NOTHING, None, NO_BRANCH, False),
        (HELD, None, NO_BRANCH, False),
    ],
)
def test_rejected_prs_are_needed_exactly_where_a_create_could_follow(
    env_plan, pr, branch, expected
):
    assert could_create(env_plan, pr, branch) is expected
    if expected:  # and then the table does answer a create
        action = decide_pr_action(env_plan, pr, branch, new_text=TEXT, title=TITLE, body=BODY)
        assert action.kind == "push+create"


def test_the_promotion_branch_is_named_after_the_environment():
    assert branch_for("qa") == "promote/qa"


ML, SRE, ANN = (Reviewer.parse(x) for x in ("modelops/ml-reviewers", "modelops/sre", "ann"))
ASKED = Asked(labels=("promotion", "env/dev"), reviewers=(ML, SRE, ANN))
COMPLETE = _pr(labels=("Promotion", "env/dev"), requested=("modelops/ml-reviewers", "ann"))


@pytest.mark.parametrize(
    ("env_plan", "pr", "branch", "asked", "kind", "labels", "reviewers"),
    [
        # nothing lacking: the table's own answer
        (PROMOTE, COMPLETE, CURRENT, ASKED, "noop", (), ()),
        (PROMOTE, _pr(), CURRENT, Asked(), "noop", (), ()),
        # a lost label (5xx on POST labels): only it is added
        (PROMOTE, _pr(labels=("promotion",), requested=("ann",)), CURRENT, ASKED, "repair",
         ("env/dev",), ()),
        # a lost review request (5xx, or a run killed after POST /pulls): every reviewer at once
        (PROMOTE, _pr(labels=("promotion", "env/dev")), CURRENT, ASKED, "repair", (),
         (ML, SRE, ANN)),
        (PROMOTE, _pr(), CURRENT, ASKED, "repair", ("promotion", "env/dev"), (ML, SRE, ANN)),
        # nothing requested, but someone reviewed: their answer removed the request, no re-ask
        (PROMOTE, _pr(labels=("promotion", "env/dev")), CURRENT, replace(ASKED, reviewed=True),
         "noop", (), ()),
        # some requests left: the one request went through, the rest were answered or removed
        (PROMOTE, _pr(labels=("promotion", "env/dev"), requested=("MODELOPS/SRE",)), CURRENT,
         ASKED, "noop", (), ()),
        # a held PR stays open and is repaired; a writing action carries the repair along
        (HELD, _pr(), CURRENT, ASKED, "repair", ("promotion", "env/dev"), (ML, SRE, ANN)),
        (PROMOTE, _pr(title="old"), CURRENT, ASKED, "update", ("promotion", "env/dev"),
         (ML, SRE, ANN)),
        (PROMOTE, _pr(), OTHER_TEXT, ASKED, "push+update", ("promotion", "env/dev"),
         (ML, SRE, ANN)),
        # a PR to close, a PR to create, nothing at all: no repair
        (NOTHING, _pr(), CURRENT, ASKED, "close", (), ()),
        (PROMOTE, None, NO_BRANCH, ASKED, "push+create", (), ()),
        (HELD, None, NO_BRANCH, ASKED, "hold", (), ()),
    ],
)  # fmt: skip
def test_an_open_pr_lacking_the_policys_labels_or_reviewers_is_repaired(
    env_plan, pr, branch, asked, kind, labels, reviewers
):
    action = decide_pr_action(
        env_plan, pr, branch, new_text=TEXT if env_plan.promotion else None,
        title=TITLE if env_plan.promotion else None, body=BODY if env_plan.promotion else None,
        asked=asked,
    )  # fmt: skip
    assert (action.kind, action.add_labels, action.request) == (kind, labels, reviewers)
    if labels or reviewers:
        assert "adding " in action.reason
        assert PrActionKind(kind).writes


def test_the_repair_says_what_it_adds():
    action = decide_pr_action(
        PROMOTE, _pr(requested=()), CURRENT, new_text=TEXT, title=TITLE, body=BODY,
        asked=Asked(labels=("env/dev",), reviewers=(SRE,)),
    )  # fmt: skip
    assert action.reason == "PR already proposes this; adding label env/dev, review by modelops/sre"


GREEN = ChecksVerdict(Verdict.GREEN, "ci passed")
PENDING = ChecksVerdict(Verdict.PENDING, "waiting for ci")
FAILED = ChecksVerdict(Verdict.FAILED, "ci failed")


@pytest.mark.parametrize(
    ("checks", "posted", "kind", "reason"),
    [
        (None, False, "noop", "automerge waits: checks not read"),
        (GREEN, False, "merge", "PR already proposes this; automerge allowed (ci passed)"),
        (PENDING, False, "noop", "automerge waits: waiting for ci"),
        (FAILED, False, "comment-checks", "automerge stopped: ci failed"),
        (FAILED, True, "noop", "automerge stopped: ci failed; already said so"),
    ],
)
def test_automerge_waits_for_green_checks_and_says_once_when_they_failed(
    checks, posted, kind, reason
):
    action = decide_pr_action(
        PROMOTE, _pr(), CURRENT, new_text=TEXT, title=TITLE, body=BODY, automerge=True,
        checks=checks, checks_comment_posted=posted,
    )  # fmt: skip
    assert (action.kind, action.reason) == (kind, reason)
    assert action.pr is not None
    assert action.merge is (kind == "merge")


@pytest.mark.parametrize("checks", [GREEN, PENDING, FAILED, None])
@pytest.mark.parametrize(
    ("pr", "branch", "kind"),
    [
        (None, NO_BRANCH, "push+create"),
        (_pr(), NO_BRANCH, "push+update"),
        (_pr(), STALE_BASE, "push+update"),
        (_pr(), OTHER_TEXT, "push+update"),
    ],
)
def test_a_head_the_bot_pushes_in_this_run_never_merges_in_it(pr, branch, kind, checks):
    """Whatever the checks of the head it replaces said: the new head's have not run yet."""
    action = decide_pr_action(
        PROMOTE, pr, branch, new_text=TEXT, title=TITLE, body=BODY, automerge=True,
        checks=checks,
    )  # fmt: skip
    assert (action.kind, action.merge) == (kind, False)
    assert action.reason == PROMOTION.summary + PUSHED_WAITS


def test_a_push_without_automerge_says_nothing_about_merging():
    action = decide_pr_action(PROMOTE, None, NO_BRANCH, new_text=TEXT, title=TITLE, body=BODY)
    assert (action.kind, action.merge, action.reason) == ("push+create", False, PROMOTION.summary)


@pytest.mark.parametrize(
    ("checks", "merge", "reason"),
    [
        (GREEN, True, "PR text is out of date"),
        (PENDING, False, "PR text is out of date; automerge waits: waiting for ci"),
        (FAILED, False, "PR text is out of date; automerge stopped: ci failed"),
    ],
)
def test_an_out_of_date_text_is_updated_and_merges_only_with_green_checks(checks, merge, reason):
    action = decide_pr_action(
        PROMOTE, _pr(title="old"), CURRENT, new_text=TEXT, title=TITLE, body=BODY,
        automerge=True, checks=checks,
    )  # fmt: skip
    assert (action.kind, action.merge, action.reason) == ("update", merge, reason)


@pytest.mark.parametrize(
    ("env_plan", "pr", "automerge", "reads"),
    [
        (PROMOTE, _pr(), True, True),
        (PROMOTE, _pr(), False, False),
        (PROMOTE, None, True, False),
        (HELD, _pr(), True, False),
    ],
)
def test_checks_are_read_only_where_a_merge_may_follow(env_plan, pr, automerge, reads):
    assert reads_checks(env_plan, pr, automerge) is reads
