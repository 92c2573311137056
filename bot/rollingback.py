"""`promotion-bot rollback ENV --reason TEXT [--to REF] [--direct]`: propose, by pull request,
putting an environment's pins back to what they were before its last promotion (or to those at
REF); with `--direct`, where the environment's policy says `rollback: {direct: true}`, push that
commit to main at once (with a lease: never over a main that moved).

Only the pins change (the same preserving edit as a promotion). The commit says why and what
it rolls back; it is not a promotion commit (`bot.world.is_promotion`), so once merged the
pins it moves away from are rejected for the environment (`bot.core.rollback`): the next run
does not propose them again. Nothing is written when main already runs those pins, or when the
open PR already proposes exactly this.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.adapters.git import GitRepo
from bot.core.policy import Reviewer
from bot.errors import BotError, PolicyError, SpecError
from bot.kustomize import edit_text, promotion_edits, read_pins_text
from bot.proposal import FileProposal, ProposalAction, ProposalOutcome, propose_file
from bot.untrusted import markdown
from bot.wiring import Services
from bot.world import BotAuthor, last_promotion, read_policy

ROLLBACK_BRANCH_PREFIX = "rollback/"
ROLLBACK_LABEL = "promotion-rollback"


def _source(
    repo: GitRepo, ref: str, overlay: str, to: str | None, is_bot: BotAuthor
) -> tuple[str, str]:
    """(the commit whose pins to restore, what is rolled back, for the commit message)."""
    if to is not None:
        sha = repo.resolve(to)
        if sha is None:
            raise SpecError(f"--to {to}: no such commit")
        return sha, f"the pins of {overlay} to those at {to} ({sha[:12]})"
    last = last_promotion(repo, ref, overlay, is_bot)
    if last is None or not last.parents:
        raise BotError(
            f"{overlay}: no promotion by the bot in its recent history on main; "
            "name the commit whose pins to restore with --to REF"
        )
    return last.parents[0], f"the promotion {last.sha[:12]} ({last.subject})"


class DirectRollbackRefusedError(PolicyError):
    """`--direct` for an environment whose policy does not say `rollback: {direct: true}`
    (a usage error: exit 2; nothing is written)."""


@dataclass(frozen=True)
class _Rollback:
    """What rolling `env` back writes: the overlay text, the commit message, the PR text."""

    env: str
    overlay: str
    new_text: str
    title: str
    message: str
    body: str
    main_sha: str | None
    reviewers: tuple[Reviewer, ...]


def _prepare(services: Services, env: str, reason: str, to: str | None) -> _Rollback | str:
    """The rollback of `env` (its pins before the last promotion, or at `to`), or why there
    is nothing to do (main already runs those pins)."""
    settings, repo = services.settings, services.repo
    base = settings.base_branch
    ref = f"refs/remotes/origin/{base}"
    main_sha = repo.remote_sha(base)
    policy = read_policy(repo, ref, settings.policy_file, None)
    env_policy = policy.environment(env)  # PolicyError naming the known environments
    overlay = env_policy.overlay
    source, what = _source(repo, ref, overlay, to, services.bot_author())
    found = repo.show_each([(ref, overlay), (source, overlay)])
    now_text, then_text = found[(ref, overlay)], found[(source, overlay)]
    if now_text is None or then_text is None:
        raise BotError(f"{overlay}: not found on {base if now_text is None else source[:12]}")
    now = read_pins_text(now_text, policy.image_name, policy.model_pin, overlay)
    then = read_pins_text(then_text, policy.image_name, policy.model_pin, overlay)
    image = then.image if then.image != now.image else None
    model = then.model if then.model != now.model else None
    if image is None and model is None:
        return f"{env} already runs those pins on {base}"
    parts = []
    if image is not None:
        parts.append(f"image {now.image.tag if now.image else '(none)'} → {image.tag}")
    if model is not None:
        before = f"v{now.model.version}" if now.model else "(none)"
        parts.append(f"model {model.name} {before} → v{model.version}")
    title = f"rollback({env}): {', '.join(parts)}"
    images, literals = promotion_edits(image, model, policy.model_pin)
    new_text, changes = edit_text(now_text, images=images, literals=literals, path=overlay)
    message = "\n".join([title, "", f"Reason: {reason}", f"Rolls back {what}.", ""])
    message += "\n".join(changes.lines())
    body = (
        f"Rolls **{markdown(env)}** back: {markdown(', '.join(parts))}.\n\n"
        f"- why: {markdown(reason, limit=400)}\n- what: rolls back {markdown(what)}\n\n"
        "Once merged, the bot does not propose the pins rolled back from again for this "
        "environment; a newer candidate is proposed with a note. Opened by "
        "`promotion-bot rollback`.\n"
    )
    return _Rollback(env, overlay, new_text, title, message, body, main_sha, env_policy.reviewers)


def rollback(
    services: Services, env: str, reason: str, to: str | None, *, direct: bool = False
) -> ProposalOutcome:
    """Roll `env`'s pins back: by a PR (`propose`), or with `direct` pushed to main where the
    environment's policy allows it (`push_direct`)."""
    if direct:
        return push_direct(services, env, reason, to)
    return propose(services, env, reason, to)


def push_direct(services: Services, env: str, reason: str, to: str | None) -> ProposalOutcome:
    """Commit the rollback on main and push it with a lease (refused when main moved since it
    was read: nothing overwritten). Only where `rollback: {direct: true}`; an open rollback PR
    of the environment, now stale, is closed."""
    settings, repo, forge = services.settings, services.repo, services.forge
    base = settings.base_branch
    policy = read_policy(repo, f"refs/remotes/origin/{base}", settings.policy_file, None)
    if not policy.environment(env).rollback_direct:
        raise DirectRollbackRefusedError(
            f"{env}: --direct is not allowed by {settings.policy_file} (set `rollback: "
            f"{{direct: true}}` on the environment); without --direct a PR is opened"
        )
    prepared = _prepare(services, env, reason, to)
    if isinstance(prepared, str):
        return ProposalOutcome(env, ProposalAction.NOOP, prepared)
    repo.checkout_fresh(base, base)
    path = repo.path / prepared.overlay
    path.write_text(prepared.new_text, encoding="utf-8")
    message = prepared.message + f"\n\nPushed to {base} directly (`rollback: {{direct: true}}`)."
    sha = repo.commit([path], message)
    repo.push_with_lease(sha, base, prepared.main_sha)
    pr = forge.find_open_pr(f"{ROLLBACK_BRANCH_PREFIX}{env}", base)
    if pr is not None:
        forge.close_pr(pr.number, f"Closed: rolled back directly on `{base}` by {sha[:12]}.")
    return ProposalOutcome(env, ProposalAction.PUSH, f"{prepared.title} ({base} at {sha[:12]})")


def propose(services: Services, env: str, reason: str, to: str | None) -> ProposalOutcome:
    """Open (or bring up to date) the PR that rolls `env`'s pins back."""
    settings, repo, forge = services.settings, services.repo, services.forge
    base = settings.base_branch
    prepared = _prepare(services, env, reason, to)
    if isinstance(prepared, str):
        return ProposalOutcome(env, ProposalAction.NOOP, prepared)
    branch = f"{ROLLBACK_BRANCH_PREFIX}{env}"
    proposal = FileProposal(
        env=env,
        base=base,
        main_sha=prepared.main_sha,
        branch=branch,
        path=prepared.overlay,
        text=prepared.new_text,
        title=prepared.title,
        body=prepared.body,
        message=prepared.message,
        label=ROLLBACK_LABEL,
        reviewers=prepared.reviewers,
    )
    return propose_file(repo, forge, proposal, forge.find_open_pr(branch, base))
