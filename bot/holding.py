"""`promotion-bot hold` / `unhold`: propose a change to `deploy/holds.yaml` by pull request.

Read (the policy and the holds on main, the `hold/<env>` branch and its PR), decide (nothing to
do, or the file's new text), apply (rebuild the branch from fresh main, push with lease, open or
update the PR). The hold takes effect when a person merges that PR, like every other change to
the GitOps repository. Nothing is written when main already says so, or when the open PR already
proposes exactly this.
"""

from __future__ import annotations

from bot.core.policy import Hold
from bot.holds import HOLDS_FILE, parse_holds, render_holds
from bot.proposal import FileProposal, ProposalAction, ProposalOutcome, propose_file
from bot.untrusted import markdown
from bot.wiring import Services
from bot.world import read_policy

HOLD_BRANCH_PREFIX = "hold/"
HOLD_LABEL = "promotion-hold"


def _title(env: str, hold: Hold | None) -> str:
    if hold is None:
        return f"unhold({env}): promotions resume"
    return f"hold({env}): {hold.describe()}"


def _body(env: str, hold: Hold | None) -> str:
    if hold is None:
        change = f"Lifts the hold on **{markdown(env)}**: the next run proposes promotions again."
    else:
        until = hold.until.isoformat() if hold.until else "until someone runs `unhold`"
        change = "\n".join(
            [
                f"Holds **{markdown(env)}**: no promotion PR for it while this is on main.",
                "",
                f"- what: {hold.scope.value}",
                f"- why: {markdown(hold.reason, limit=400)}",
                f"- who: {markdown(hold.by)}",
                f"- until: {markdown(until)}",
            ]
        )
    return (
        f"{change}\n\nIt takes effect when this PR is merged (`{HOLDS_FILE}`). Opened by "
        "`promotion-bot hold`/`unhold`; run it again to change it, nothing else edits it.\n"
    )


def propose(services: Services, env: str, hold: Hold | None) -> ProposalOutcome:
    """Open (or bring up to date) the PR that records `hold` for `env` (None: lifts it)."""
    settings, repo = services.settings, services.repo
    base = settings.base_branch
    ref = f"refs/remotes/origin/{base}"
    main_sha = repo.remote_sha(base)
    policy = read_policy(repo, ref, settings.policy_file, None)
    env_policy = policy.environment(env)  # PolicyError naming the known environments
    current = parse_holds(repo.show_many(ref, [HOLDS_FILE])[HOLDS_FILE])
    wanted = {name: h for name, h in current.items() if name != env}
    if hold is not None:
        wanted[env] = hold
    forge = services.forge
    branch = f"{HOLD_BRANCH_PREFIX}{env}"
    pr = forge.find_open_pr(branch, base)
    if wanted == current:
        state = "held so" if hold is not None else "not held"
        reason = f"{env} is already {state} on {base}"
        if pr is None:
            return ProposalOutcome(env, ProposalAction.NOOP, reason)
        forge.close_pr(pr.number, f"Closed by promotion-bot: {reason}, nothing left to change.")
        return ProposalOutcome(
            env, ProposalAction.CLOSE, f"{reason}; closed #{pr.number}", pr.number, pr.url
        )
    title = _title(env, hold)
    proposal = FileProposal(
        env=env,
        base=base,
        main_sha=main_sha,
        branch=branch,
        path=HOLDS_FILE,
        text=render_holds(wanted),
        title=title,
        body=_body(env, hold),
        message=f"{title}\n\nRecorded by promotion-bot in {HOLDS_FILE}.",
        label=HOLD_LABEL,
        # those who review the environment's promotions review its holds
        reviewers=env_policy.reviewers,
    )
    return propose_file(repo, forge, proposal, pr)
