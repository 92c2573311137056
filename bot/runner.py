"""The imperative shell: lock → read → plan → apply → push → PR. Decisions live elsewhere.

`read_world` gathers plain data (overlays at origin/main with their history, registry
candidates, model versions); `bot.core.plan.plan` decides; `decide_pr_action` (pure) says what
to do with each environment's branch and PR; `execute` performs exactly that, and nothing when
there is nothing to do.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot import pr_body
from bot.adapters.git import BOT_EMAIL, GitRepo
from bot.adapters.modelstore import discover_models
from bot.adapters.registry import RegistryClient
from bot.core.model import Candidates, EnvState, ImageCandidate, State
from bot.core.plan import EnvPlan, Plan, Promotion, tags_to_inspect
from bot.errors import BotError, RegistryNotFoundError
from bot.forge import Comment, CommitRange, Forge, ForgeConflictError, ForgeError, PullRequest
from bot.kustomize import OverlayPins, edit_text, promotion_edits, read_pins_text
from bot.policy import PromotionPolicy, parse_policy
from modelstore import ModelStore

BRANCH_PREFIX = "promote/"
HUMAN_MARKER = "<!-- promotion-bot: human-commits -->"


def branch_for(env: str) -> str:
    return f"{BRANCH_PREFIX}{env}"


# --------------------------------------------------------------------------- read


@dataclass(frozen=True)
class World:
    """Everything a run reads before deciding."""

    base: str
    main_sha: str
    policy: PromotionPolicy
    state: State
    candidates: Candidates
    overlays: dict[str, str]  # env -> overlay text at origin/main


def prepare_checkout(remote: str, path: Path) -> GitRepo:
    """Clone once, then fetch on every run (the clone is a cache, never a source of truth)."""
    repo = GitRepo(path) if (path / ".git").exists() else GitRepo.clone(remote, path)
    repo.fetch()
    return repo


def read_policy(
    repo: GitRepo, ref: str, policy_file: str, registry_host: str | None
) -> PromotionPolicy:
    policy = parse_policy(repo.show(ref, policy_file), policy_file)
    return policy.with_registry_host(registry_host) if registry_host else policy


def read_state(repo: GitRepo, ref: str, policy: PromotionPolicy) -> tuple[State, dict[str, str]]:
    """Pins of every overlay at `ref`; `changed_at` is the last commit touching the overlay.

    Two git processes whatever the number of overlays: one reads every file, one walks history.
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


def discover_images(
    registry: RegistryClient, state: State, policy: PromotionPolicy
) -> tuple[tuple[ImageCandidate, ...], tuple[str, ...]]:
    """The latest tag by policy plus every pinned digest: requests grow with envs, not tags."""
    repository = policy.image_repository
    tags = tuple(registry.list_tags(repository))
    latest, pinned = tags_to_inspect(state, tags, policy)
    images: list[ImageCandidate] = []
    if latest is not None:
        images.append(registry.inspect(repository, latest, name=policy.image_reference_name))
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
    return tuple(images), tags


def read_world(
    repo: GitRepo,
    registry_for: Callable[[str], RegistryClient],
    store: ModelStore,
    *,
    base: str,
    policy_file: str,
    registry_host: str | None,
) -> World:
    ref = f"refs/remotes/origin/{base}"
    main_sha = repo.remote_sha(base)
    if main_sha is None:
        raise BotError(f"the GitOps remote has no {base!r} branch")
    policy = read_policy(repo, ref, policy_file, registry_host)
    state, texts = read_state(repo, ref, policy)
    images, tags = discover_images(registry_for(policy.registry.host), state, policy)
    pinned_versions = [
        env.model.version
        for env in state.envs.values()
        if env.model is not None and env.model.name == policy.model_name
    ]
    selector = policy.first.model_selector
    models = discover_models(
        store, policy.model_name, pinned_versions, alias=selector.alias if selector else None
    )
    return World(base, main_sha, policy, state, Candidates(images, models, tags), texts)


# --------------------------------------------------------------------------- decide (pure)


@dataclass(frozen=True)
class RemoteBranch:
    """What the env's promotion branch on the remote looks like (None fields: absent)."""

    sha: str | None
    parent_is_main: bool = False
    overlay_text: str | None = None
    foreign_authors: tuple[str, ...] = ()


@dataclass(frozen=True)
class RejectedPr:
    """A promotion PR a reviewer closed without merging, with the marker of its body."""

    number: int
    marker: dict[str, object]


@dataclass(frozen=True)
class PrAction:
    """What to do for one environment. `kind` is one of:

    `noop` (already proposed as is), `push+create`, `push+update`, `update` (only the text
    changed), `close` (stale PR), `comment-human` (someone else pushed to the branch),
    `hold` (a time gate holds the promotion; keep the PR), `none` (nothing to promote, no PR).
    """

    env: str
    kind: str
    reason: str
    pr: PullRequest | None = None
    promotion: Promotion | None = None
    new_text: str | None = None
    title: str | None = None
    body: str | None = None


def decide_pr_action(  # noqa: PLR0911 (a decision table: one early return per row)
    env_plan: EnvPlan,
    pr: PullRequest | None,
    branch: RemoteBranch,
    *,
    new_text: str | None,
    title: str | None,
    body: str | None,
    human_comment_posted: bool = False,
    automerge: bool = False,
    rejected: Sequence[RejectedPr] = (),
) -> PrAction:
    promotion = env_plan.promotion
    if promotion is None:
        if env_plan.held is not None:
            return PrAction(env_plan.env, "hold", "; ".join(env_plan.reasons), pr)
        if pr is not None:
            why = "; ".join(env_plan.reasons) or "nothing to promote"
            return PrAction(env_plan.env, "close", why, pr)
        return PrAction(env_plan.env, "none", "; ".join(env_plan.reasons))

    def act(kind: str, reason: str) -> PrAction:
        return PrAction(env_plan.env, kind, reason, pr, promotion, new_text, title, body)

    if branch.sha is not None and branch.foreign_authors:
        if pr is None:
            who = ", ".join(branch.foreign_authors)
            return PrAction(
                env_plan.env, "noop", f"{branch_for(env_plan.env)} has commits by {who} and no "
                "PR: leaving it (delete the branch to let the bot propose again)",
            )  # fmt: skip
        if human_comment_posted:
            return PrAction(env_plan.env, "noop", "branch has human commits; already said so", pr)
        who = ", ".join(branch.foreign_authors)
        return act("comment-human", f"branch has commits by {who}: not overwriting")
    branch_current = (
        branch.sha is not None and branch.parent_is_main and branch.overlay_text == new_text
    )
    if pr is None:
        target = pr_body.marker_data(promotion)
        for closed in rejected:  # a reviewer said no to exactly this: do not ask again
            if {k: v for k, v in closed.marker.items() if k != "body_sha256"} == target:
                return PrAction(
                    env_plan.env, "hold",
                    f"rejected in #{closed.number} (reopen it or register a newer candidate)",
                )  # fmt: skip
        return act("push+create", promotion.summary)
    if not branch_current:
        return act("push+update", promotion.summary)
    if pr.title != title or not pr_body.same_body(pr.body, body or ""):
        return act("update", "PR text is out of date")
    if automerge:  # an earlier merge did not happen (checks failed, or the head moved)
        return act("merge", "PR already proposes this; automerge allowed")
    return PrAction(env_plan.env, "noop", "PR already proposes this", pr)


# --------------------------------------------------------------------------- apply


@dataclass
class EnvOutcome:
    env: str
    action: str
    reason: str
    pr_number: int | None = None
    diff: str = ""


@dataclass
class RunReport:
    plan: Plan
    outcomes: list[EnvOutcome] = field(default_factory=list)
    dry_run: bool = False

    @property
    def wrote(self) -> bool:
        return any(o.action not in {"noop", "hold", "none"} for o in self.outcomes)


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )


def remote_branch(repo: GitRepo, env: str, overlay: str, main_sha: str) -> RemoteBranch:
    sha = repo.remote_sha(branch_for(env))
    if sha is None:
        return RemoteBranch(None)
    authors = repo.authors_between(main_sha, sha)
    try:
        text: str | None = repo.show(sha, overlay)
    except BotError:
        text = None
    return RemoteBranch(
        sha=sha,
        parent_is_main=repo.parent_sha(sha) == main_sha,
        overlay_text=text,
        foreign_authors=tuple(sorted(a for a in set(authors) if a != BOT_EMAIL)),
    )


CommitRangeFn = Callable[[Promotion], CommitRange | None]


def commit_range_via(forge: Forge) -> CommitRangeFn:
    def fetch(promotion: Promotion) -> CommitRange | None:
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

    return fetch


def plan_actions(
    world: World,
    plan_result: Plan,
    *,
    repo: GitRepo,
    open_prs: dict[str, PullRequest],
    commit_range: CommitRangeFn,
    comments_of: Callable[[int], Sequence[Comment]],
    closed_prs_of: Callable[[str], Sequence[PullRequest]] = lambda _head: (),
) -> list[PrAction]:
    """`closed_prs_of(head)` (closed unmerged PRs) is asked only when a create is about to
    happen, so a run with nothing new pays nothing for it."""
    actions = []
    for env_plan in plan_result.envs:
        pr = open_prs.get(branch_for(env_plan.env))
        promotion = env_plan.promotion
        new_text = title = body = None
        branch = RemoteBranch(None)
        posted = False
        if promotion is not None:
            images, literals = promotion_edits(
                promotion.image.after if promotion.image else None,
                promotion.model.after if promotion.model else None,
                world.policy.model_pin,
            )
            new_text, _ = edit_text(
                world.overlays[env_plan.env],
                images=images,
                literals=literals,
                path=promotion.overlay,
            )
            title = pr_body.title(promotion)
            body = pr_body.render(
                promotion, commit_range(promotion), model_pin=world.policy.model_pin
            )
            branch = remote_branch(repo, env_plan.env, promotion.overlay, world.main_sha)
            if branch.foreign_authors and pr is not None:
                posted = any(HUMAN_MARKER in c.body for c in comments_of(pr.number))

        decide = functools.partial(
            decide_pr_action,
            env_plan,
            pr,
            branch,
            new_text=new_text,
            title=title,
            body=body,
            human_comment_posted=posted,
            automerge=world.policy.environment(env_plan.env).automerge,
        )
        action = decide()
        if action.kind == "push+create":
            rejected = [
                RejectedPr(closed.number, marker)
                for closed in closed_prs_of(branch_for(env_plan.env))
                if (marker := pr_body.read_marker(closed.body)) is not None
            ]
            if rejected:
                action = decide(rejected=rejected)
        actions.append(action)
    return actions


def execute(
    action: PrAction,
    *,
    repo: GitRepo,
    forge: Forge,
    world: World,
    automerge: bool,
    validate: Callable[[GitRepo, str], list[str]],
) -> EnvOutcome:
    env = action.env
    number = action.pr.number if action.pr else None
    outcome = EnvOutcome(env, action.kind, action.reason, number)
    if action.kind in {"noop", "hold", "none"}:
        return outcome
    if action.kind == "close":
        assert action.pr is not None  # noqa: S101 (decide_pr_action guarantees it)
        forge.close_pr(
            action.pr.number, f"Closed by promotion-bot: no longer needed ({action.reason})."
        )
        return outcome
    if action.kind == "comment-human":
        if action.pr is not None:
            forge.comment(
                action.pr.number,
                f"{HUMAN_MARKER}\nSomeone else pushed to `{branch_for(env)}`, so promotion-bot "
                f"will not overwrite it. Merge or close this PR (or delete the branch) and the "
                f"next run proposes: {action.promotion.summary if action.promotion else ''}.",
            )
        return outcome
    assert action.promotion is not None and action.new_text is not None  # noqa: S101
    assert action.title is not None and action.body is not None  # noqa: S101
    promotion = action.promotion
    head_sha = action.pr.head_sha if action.pr else None
    if action.kind.startswith("push"):
        head_sha = push_promotion(repo, world, promotion, action.new_text)
    if action.kind in {"push+update", "update"}:
        assert action.pr is not None  # noqa: S101
        forge.update_pr(action.pr.number, title=action.title, body=action.body)
    elif action.kind == "push+create":
        env_policy = world.policy.environment(env)
        created = forge.create_pr(
            title=action.title,
            body=action.body,
            head=branch_for(env),
            base=world.base,
            labels=env_policy.labels,
            reviewers=env_policy.reviewers,
        )
        outcome.pr_number = created.number
        head_sha = created.head_sha
    if automerge and outcome.pr_number is not None and head_sha is not None:
        if not action.kind.startswith("push"):  # validate what the PR holds, not this checkout
            repo.checkout_fresh(branch_for(env), branch_for(env))
        problems = validate(repo, env)
        if problems:
            outcome.reason += "; automerge skipped: " + "; ".join(problems)
            if action.kind == "merge":
                outcome.action = "noop"  # nothing was written
        else:
            _merge(forge, outcome, head_sha, already_proposed=action.kind == "merge")
    return outcome


def _merge(forge: Forge, outcome: EnvOutcome, head_sha: str, *, already_proposed: bool) -> None:
    assert outcome.pr_number is not None  # noqa: S101 (execute checks it)
    try:
        forge.merge_pr(outcome.pr_number, sha=head_sha, method="squash")
    except ForgeConflictError:
        raise  # the head moved: the run starts again from a fresh read
    except ForgeError as exc:  # e.g. branch protection: say so, keep the PR, go on
        outcome.reason += f"; automerge refused: {exc}"
        if already_proposed:
            outcome.action = "noop"  # nothing was written
    else:
        outcome.action = "merged" if already_proposed else f"{outcome.action}+merged"


def push_promotion(repo: GitRepo, world: World, promotion: Promotion, new_text: str) -> str:
    """Rebuild `promote/<env>` from fresh main with the edit; push with lease; return its sha."""
    branch = branch_for(promotion.env)
    expected = repo.remote_sha(branch)
    repo.checkout_fresh(branch, world.base)
    overlay = repo.path / promotion.overlay
    overlay.write_bytes(new_text.encode())
    sha = repo.commit([overlay], commit_message(promotion))
    repo.push_with_lease(sha, branch, expected)
    return sha


def commit_message(promotion: Promotion) -> str:
    lines = [f"promote({promotion.env}): {promotion.summary.split(': ', 1)[1]}", ""]
    if promotion.image is not None:
        after = promotion.image.after
        lines.append(f"image: {after.new_name}:{after.tag}@{after.digest}")
    if promotion.model is not None:
        model = promotion.model.after
        lines.append(f"model: {model.name} v{model.version} sha256:{model.sha256}")
    return "\n".join(lines)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return text


def now_utc() -> datetime:
    return datetime.now(UTC)
