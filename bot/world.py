"""Reading the world a run decides on: the overlays on main, the registry, the model store
(`read_world`), then what the PR decision needs for each environment (`read_env_facts`: its open
PR, its branch on the remote, the text a promotion would write).

Only reads: nothing here writes to git, the forge or a registry.

Why one module over 450 lines: every read of a run stands here in the order the run needs it
(overlays, history for soak and rollbacks, registry, store, PR facts), so the read half of
the run sequence is one file; splitting by source is the next step when it grows again.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bot import pr_body
from bot.adapters.evaluation import measure_models
from bot.adapters.git import BOT_EMAIL, GitRepo, PathCommit
from bot.adapters.modelstore import discover_manifests
from bot.adapters.registry import RegistryClient
from bot.core.checks import ChecksVerdict, Verdict, judge_checks
from bot.core.marker import read_marker
from bot.core.model import Candidates, EnvState, ImageCandidate, ImagePin, ModelPin, State
from bot.core.plan import EnvPlan, Plan, Promotion, tags_to_inspect
from bot.core.pr_action import (
    OpenPr,
    RejectedPr,
    RemoteBranch,
    branch_for,
    could_create,
    may_lack_reviewers,
    reads_checks,
)
from bot.core.rollback import PinsChange, rolled_back
from bot.errors import (
    BotError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    RegistryUnavailableError,
)
from bot.forge import CommitRange, Forge, ForgeError, PullRequest
from bot.holds import HOLDS_FILE, parse_holds
from bot.kustomize import OverlayPins, UpdateResult, edit_text, promotion_edits, read_pins_text
from bot.policy import PromotionPolicy, parse_policy
from modelstore import ModelStore

HUMAN_MARKER = "<!-- promotion-bot: human-commits -->"
#: Unusable tags passed over before discovery gives up looking for a candidate image.
MAX_SKIPPED_TAGS = 5
# Overlay commits per environment searched for rollbacks: older ones pin what forward-only
# refuses anyway.
ROLLBACK_HISTORY = 50


def checks_marker(head_sha: str) -> str:
    """Hidden in the comment saying a failed check stopped the automerge of `head_sha`."""
    return f"<!-- promotion-bot: checks-failed {head_sha} -->"


@dataclass(frozen=True)
class World:
    """Everything a run reads before deciding."""

    base: str
    main_sha: str
    policy: PromotionPolicy
    state: State
    candidates: Candidates
    overlays: dict[str, str]  # env -> overlay text at origin/main


def read_policy(
    repo: GitRepo, ref: str, policy_file: str, registry_host: str | None
) -> PromotionPolicy:
    """The policy at `ref`, with the holds recorded in `deploy/holds.yaml` there (if any)."""
    found = repo.show_many(ref, [policy_file, HOLDS_FILE])
    text = found[policy_file]
    if text is None:
        raise BotError(f"{policy_file}: not found on {ref}")
    policy = parse_policy(text, policy_file)
    policy = policy.with_holds(parse_holds(found[HOLDS_FILE]))
    return policy.with_registry_host(registry_host) if registry_host else policy


def read_state(repo: GitRepo, ref: str, policy: PromotionPolicy) -> tuple[State, dict[str, str]]:
    """Pins of every overlay at `ref`; `changed_at` is the last commit touching the overlay.

    Three git processes whatever the number of overlays: one lists main's tree, one reads
    every file by its blob id (`GitRepo.show_each`), one walks history.
    """
    overlays = [env.overlay for env in policy.environments]
    found = repo.show_many(ref, overlays)
    texts: dict[str, str] = {}
    pins: dict[str, OverlayPins] = {}
    for env in policy.environments:
        text = found[env.overlay]
        if text is None:
            raise BotError(f"{env.overlay}: not found on {ref} ({env.name})")
        texts[env.name] = text
        pins[env.name] = read_pins_text(text, policy.image_name, policy.model_pin, env.overlay)
    history = repo.last_changes(ref, overlays)
    envs: dict[str, EnvState] = {}
    for env in policy.environments:
        last = history[env.overlay]
        envs[env.name] = EnvState(
            env=env.name,
            image=pins[env.name].image,
            model=pins[env.name].model,
            changed_at=last.when if last else None,
        )
    return State(envs=envs), texts


def _pins(text: str | None, policy: PromotionPolicy, path: str) -> OverlayPins | None:
    """The pins of a historical overlay text; None when absent or unreadable there (such a
    change then says nothing about rollbacks: today's overlay is validated on its own)."""
    if text is None:
        return None
    try:
        return read_pins_text(text, policy.image_name, policy.model_pin, path)
    except BotError:
        return None


#: Who wrote a commit, by its author email: `git_identity`, or `bot_author(forge)`.
BotAuthor = Callable[[str], bool]
# The subjects of the bot's promotions: its commit's (`promote(<env>): ...`) and its PR's
# title (`Promote <env>: ...`), which a squash merge takes (`Merged PR <n>: ` before it on
# Azure Repos).
_PROMOTION_SUBJECT = re.compile(r"(?:Merged PR [0-9]+: )?(?:promote\(|Promote )")


def git_identity(email: str) -> bool:
    """The bot's own git identity (its commits on its branches, its rebase merges)."""
    return email == BOT_EMAIL


def bot_author(forge: Forge | None) -> BotAuthor:
    """The bot's git identity or its account on `forge` as the forge writes it into commits
    it makes (a squash merge of the bot's PR on GitHub names the PR's author: the bot's
    account, whoever merged it). `forge` None (no credentials): the git identity alone."""
    if forge is None:
        return git_identity
    return lambda email: email == BOT_EMAIL or forge.is_own_account(email)


def is_promotion(author_email: str, subject: str, is_bot: BotAuthor = git_identity) -> bool:
    """The bot's promotion commit: by the bot (`is_bot`), with its commit's subject
    (`promote(<env>): ...`) or its PR's title (`Promote <env>: ...`, the subject of a squash
    merge). Neither alone: anyone can write a subject, and the bot's identity also makes
    `promotion-bot rollback` commits, which act for a person (`rollback(<env>): ...`)."""
    return _PROMOTION_SUBJECT.match(subject) is not None and is_bot(author_email)


def _promotions(
    repo: GitRepo, commits: Sequence[PathCommit], is_bot: BotAuthor = git_identity
) -> set[str]:
    """The commits among `commits` that are the bot's promotions: its own commit (a direct
    push, a rebase merge, a squash merge of its PR) or a merge whose merged-in tip is one (a
    promotion PR, whoever merged it: the bot rebuilds `promote/<env>` from main and leaves a
    branch a person committed to)."""
    found = {c.sha for c in commits if is_promotion(c.author_email, c.subject, is_bot)}
    tips = {c.parents[1]: c.sha for c in commits if len(c.parents) > 1}
    if tips:
        found |= {
            tips[sha]
            for sha, email, subject in repo.authors_of(list(tips))
            if is_promotion(email, subject, is_bot)
        }
    return found


def last_promotion(
    repo: GitRepo, ref: str, overlay: str, is_bot: BotAuthor = git_identity
) -> PathCommit | None:
    """The newest of the bot's promotions among the overlay's recent changes on `ref`."""
    commits = repo.path_history(ref, overlay, ROLLBACK_HISTORY)
    promotions = _promotions(repo, commits, is_bot)
    return next((c for c in commits if c.sha in promotions), None)


def read_rollbacks(
    repo: GitRepo,
    ref: str,
    policy: PromotionPolicy,
    state: State,
    is_bot: BotAuthor = git_identity,
) -> State:
    """`state` with each environment's rolled-back pins, from the overlay's first-parent
    history on `ref` (the newest `ROLLBACK_HISTORY` changes). A change is the bot's when it is
    one of its promotions (`_promotions`, docs/decisions.md 24)."""
    envs = dict(state.envs)
    # a few git processes whatever the number of overlays: one walk, one batch read (with a
    # tree listing of each commit that changed many overlays), and (for merges) one read of
    # the merged-in tips' authors
    histories = repo.path_histories(
        ref, [env.overlay for env in policy.environments], ROLLBACK_HISTORY
    )
    specs = [(c.sha, path) for path, commits in histories.items() for c in commits]
    specs += [(c.parents[0], path) for path, cs in histories.items() for c in cs if c.parents]
    texts = repo.show_each(specs) if specs else {}
    every = {c.sha: c for commits in histories.values() for c in commits}
    promotions = _promotions(repo, list(every.values()), is_bot) if every else set()
    for env in policy.environments:
        commits = histories[env.overlay]
        if not commits:
            continue
        changes = []
        for c in reversed(commits):  # oldest first
            before = _pins(
                texts[(c.parents[0], env.overlay)] if c.parents else None, policy, env.overlay
            )
            after = _pins(texts[(c.sha, env.overlay)], policy, env.overlay)
            changes.append(
                PinsChange(
                    sha=c.sha,
                    subject=c.subject,
                    by_bot=c.sha in promotions,
                    image_before=before.image if before else None,
                    image_after=after.image if after else None,
                    model_before=before.model if before else None,
                    model_after=after.model if after else None,
                )
            )
        found = rolled_back(changes, policy.tag_policy(env.name))
        if found:
            envs[env.name] = replace(state.get(env.name), rolled_back=found)
    return State(envs=envs)


def discover_images(
    registry: RegistryClient, state: State, policy: PromotionPolicy
) -> tuple[tuple[ImageCandidate, ...], tuple[str, ...], dict[str, str]]:
    """The latest usable tag by policy plus every pinned digest (requests grow with envs, not
    tags), and the tags passed over on the way, with why.

    A tag the registry cannot give as a candidate (no linux/amd64 manifest in its index, a
    malformed manifest, gone since the listing) is skipped for the next one, at most
    `MAX_SKIPPED_TAGS` of them: one bad push must not halt every environment. An unreachable
    registry or refused credentials still end the run (that is no verdict on the tag)."""
    repository = policy.image_repository
    tags = tuple(registry.list_tags(repository))
    skipped: dict[str, str] = {}
    latest, pinned = tags_to_inspect(state, tags, policy)
    images: list[ImageCandidate] = []
    while latest is not None:
        try:
            images.append(registry.inspect(repository, latest, name=policy.image_reference_name))
            break
        except (RegistryUnavailableError, RegistryAuthError):
            raise
        except RegistryError as exc:
            skipped[latest] = str(exc)
        if len(skipped) >= MAX_SKIPPED_TAGS:
            break
        latest, _ = tags_to_inspect(state, tags, policy, skipped)
    known = {image.digest for image in images}
    tag_of = {
        env.image.digest: env.image.tag
        for env in state.envs.values()
        if env.image is not None and env.image.digest
    }
    for digest in sorted(pinned - known):
        try:
            labels = registry.config_labels(repository, digest)
        except RegistryNotFoundError:
            continue  # a pinned digest gone from the registry: the planner treats it as unknown
        # any other registry error (outage, auth) ends the run: an unreadable signature must
        # not look like an incompatible one, or open PRs would be closed on a transient fault
        images.append(
            ImageCandidate(
                name=policy.image_reference_name,
                tag=tag_of.get(digest) or digest,
                digest=digest,
                labels=labels,
            )
        )
    return tuple(images), tags, skipped


def read_world(
    repo: GitRepo,
    registry_for: Callable[[str], RegistryClient],
    store: ModelStore,
    *,
    base: str,
    policy_file: str,
    registry_host: str | None,
    is_bot: BotAuthor = git_identity,
) -> World:
    ref = f"refs/remotes/origin/{base}"
    main_sha = repo.remote_sha(base)
    if main_sha is None:
        raise BotError(f"the GitOps remote has no {base!r} branch")
    policy = read_policy(repo, ref, policy_file, registry_host)
    state, texts = read_state(repo, ref, policy)
    state = read_rollbacks(repo, ref, policy, state, is_bot)
    images, tags, skipped = discover_images(registry_for(policy.registry.host), state, policy)
    pinned_versions = [
        env.model.version
        for env in state.envs.values()
        if env.model is not None and env.model.name == policy.model_name
    ]
    selector = policy.first.model_selector
    discovered = discover_manifests(
        store, policy.model_name, pinned_versions, alias=selector.alias if selector else None
    )
    models = measure_models(store, policy, discovered, state)  # issue 17: cached, 1 read a pair
    candidates = Candidates(images, models, tags, skipped)
    return World(base, main_sha, policy, state, candidates, texts)


# --------------------------------------------------------------------------- per environment


@dataclass(frozen=True)
class Proposal:
    """What a promotion would write: the overlay's new text, what the edit changed, the PR text.

    `changes` (the edit's own result, file → object → [old, new]) feeds the commit message, the
    PR body's "What changes" table and the dry-run diff."""

    promotion: Promotion
    old_text: str
    new_text: str
    changes: UpdateResult
    title: str
    body: str

    def commit_message(self) -> str:
        promotion = self.promotion
        return "\n".join(
            [f"promote({promotion.env}): {promotion.headline}", "", *self.changes.lines()]
        )

    def diff(self) -> str:
        """The unified diff of every file the edit changed (one overlay today)."""
        return "".join(
            "".join(
                difflib.unified_diff(
                    self.old_text.splitlines(keepends=True),
                    self.new_text.splitlines(keepends=True),
                    f"a/{path}",
                    f"b/{path}",
                )
            )
            for path in self.changes.files
        )


def propose(world: World, promotion: Promotion, commits: CommitRange | None) -> Proposal:
    """The edit and the PR text of `promotion` (pure, given the commit range)."""
    images, literals = promotion_edits(
        promotion.image.after if promotion.image else None,
        promotion.model.after if promotion.model else None,
        world.policy.model_pin,
    )
    old_text = world.overlays[promotion.env]
    new_text, changes = edit_text(
        old_text, images=images, literals=literals, path=promotion.overlay
    )
    return Proposal(
        promotion,
        old_text,
        new_text,
        changes,
        pr_body.title(promotion),
        pr_body.render(promotion, commits, changes, model_pin=world.policy.model_pin),
    )


def commit_range(forge: Forge, promotion: Promotion) -> CommitRange | None:
    """The code between the running and the proposed image (or why it is unknown)."""
    change = promotion.image
    if change is None:
        return None
    before, after = change.revision_before, change.revision_after
    if not before or not after:
        return CommitRange(before, after, unavailable="an image has no revision label")
    try:
        return forge.compare(before, after)
    except ForgeError as exc:
        return CommitRange(before, after, unavailable=str(exc))


def remote_branch(
    repo: GitRepo,
    policy: PromotionPolicy,
    promotion: Promotion,
    main_sha: str,
    pr: PullRequest | None,
) -> RemoteBranch:
    """The env's promotion branch on the remote, with who wrote to it and, for a branch with an
    open PR, whether its content is what the bot writes (else someone edited it by hand)."""
    overlay = promotion.overlay
    sha = repo.remote_sha(branch_for(promotion.env))
    if sha is None:
        return RemoteBranch(None)
    writers = repo.writers_between(main_sha, sha)
    try:
        text: str | None = repo.show(sha, overlay)
    except BotError:
        text = None
    parent = repo.parent_sha(sha)
    return RemoteBranch(
        sha=sha,
        parent_is_main=parent == main_sha,
        overlay_text=text,
        foreign_authors=tuple(sorted(a for a in set(writers) if a != BOT_EMAIL)),
        hand_edit=_hand_edit(repo, policy, promotion, sha=sha, parent=parent, text=text, pr=pr),
    )


def _hand_edit(
    repo: GitRepo,
    policy: PromotionPolicy,
    promotion: Promotion,
    *,
    sha: str,
    parent: str | None,
    text: str | None,
    pr: PullRequest | None,
) -> str | None:
    """Why the branch is not what the bot writes (None: it is, or there is no record to check).

    The bot's branch is one commit on a `main` that changes only the overlay, to the pins its
    PR's marker records (or to the pins of this run's plan: a run killed between the push and
    the PR update leaves exactly that). Anything else, whoever the commit names, is a person's.
    """
    marker = read_marker(pr.body) if pr is not None else None
    if marker is None or parent is None:
        return None  # no recorded plan to compare with: the commit identities decide alone
    changed = set(repo.changed_files(parent, sha))
    if changed - {promotion.overlay}:
        return f"changes {', '.join(sorted(changed - {promotion.overlay}))}"
    if text is None:
        return f"removes {promotion.overlay}"
    try:
        base = repo.show(parent, promotion.overlay)
        expected = {
            edit_text(base, images=images, literals=literals, path=promotion.overlay)[0]
            for images, literals in (
                promotion_edits(*_recorded_pins(marker, policy), policy.model_pin),
                promotion_edits(
                    promotion.image.after if promotion.image else None,
                    promotion.model.after if promotion.model else None,
                    policy.model_pin,
                ),
            )
        }
    except (BotError, ValueError, KeyError, TypeError):
        return f"{promotion.overlay} cannot be rebuilt from its parent"
    if text not in expected:
        return f"{promotion.overlay} differs from the pins its PR records"
    return None


def _recorded_pins(
    marker: dict[str, object], policy: PromotionPolicy
) -> tuple[ImagePin | None, ModelPin | None]:
    """The target pins a PR body's marker records (ValueError: not a marker the bot wrote)."""
    image, model = marker.get("image"), marker.get("model")
    image_pin = model_pin = None
    if image is not None:
        if not isinstance(image, dict):
            raise ValueError("image")
        image_pin = ImagePin(
            name=policy.image_name,
            new_name=policy.image_reference_name,
            tag=str(image["tag"]),
            digest=str(image["digest"]),
        )
    if model is not None:
        if not isinstance(model, dict):
            raise ValueError("model")
        model_pin = ModelPin(str(model["name"]), int(model["version"]), str(model["sha256"]))
    return image_pin, model_pin


@dataclass(frozen=True)
class EnvFacts:
    """What the PR decision of one environment reads (absent parts: not needed, not read)."""

    pr: OpenPr | None = None
    branch: RemoteBranch = field(default_factory=lambda: RemoteBranch(None))
    proposal: Proposal | None = None
    human_comment_posted: bool = False
    rejected: tuple[RejectedPr, ...] = ()
    reviewed: bool = False  # someone reviewed the open PR (read only when no request is left)
    checks: ChecksVerdict | None = None  # the open PR head's checks, where automerge may follow
    checks_comment_posted: bool = False


def read_checks(
    world: World, env_plan: EnvPlan, pr: PullRequest | None, forge: Forge
) -> tuple[ChecksVerdict | None, bool]:
    """The verdict on the open PR head's checks, and whether the bot already said they failed
    (read only where the table may answer MERGE)."""
    env_policy = world.policy.environment(env_plan.env)
    if pr is None or not reads_checks(env_plan, pr, env_policy.automerge):
        return None, False
    verdict = judge_checks(env_policy.required_checks, forge.head_checks(pr.head_sha))
    if verdict.verdict is not Verdict.FAILED:
        return verdict, False
    marker = checks_marker(pr.head_sha)
    return verdict, any(marker in c.body for c in forge.comments(pr.number))


def read_env_facts(
    world: World,
    planned: Plan,
    *,
    repo: GitRepo,
    open_prs: dict[str, PullRequest],
    forge: Forge,
) -> dict[str, EnvFacts]:
    """Per environment: its open PR and, for a promotion, its branch, the text it would write,
    whether the bot already spoke up on a human's branch, and the PRs a reviewer rejected.

    The closed PRs are listed only where a create could follow, so a run with nothing new
    pays nothing for them."""
    facts = {}
    for env_plan in planned.envs:
        pr = open_prs.get(branch_for(env_plan.env))
        reviewers = world.policy.environment(env_plan.env).reviewers
        reviewed = (
            pr is not None
            and (env_plan.promotion is not None or env_plan.held is not None)
            and may_lack_reviewers(pr, reviewers)
            and forge.reviewed(pr.number)
        )
        promotion = env_plan.promotion
        if promotion is None:
            facts[env_plan.env] = EnvFacts(pr, reviewed=reviewed)
            continue
        branch = remote_branch(repo, world.policy, promotion, world.main_sha, pr)
        posted = False
        if branch.human and pr is not None:
            posted = any(HUMAN_MARKER in c.body for c in forge.comments(pr.number))
        rejected: tuple[RejectedPr, ...] = ()
        if could_create(env_plan, pr, branch):
            rejected = tuple(
                RejectedPr(closed.number, marker)
                for closed in forge.closed_prs(branch_for(env_plan.env), world.base)
                if (marker := read_marker(closed.body)) is not None
            )
        proposal = propose(world, promotion, commit_range(forge, promotion))
        checks, checks_posted = read_checks(world, env_plan, pr, forge)
        facts[env_plan.env] = EnvFacts(
            pr, branch, proposal, posted, rejected, reviewed, checks, checks_posted
        )
    return facts
