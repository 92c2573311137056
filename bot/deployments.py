"""Reading what each environment's cluster confirmed it runs (issue 14): only reads.

An environment ships from its own branch, `release/<env>` (`bot.core.confirm.release_ref`);
its controller posts a commit status on each release commit it applies. For some pins, the
evidence is the statuses of the commits on that branch's first-parent line that pin them: from
its tip back to the last commit that changed the environment's overlay (after which the pins
cannot differ), at most `MAX_RELEASE_COMMITS`. `bot.core.confirm` decides what they mean; this
module only gathers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from bot.adapters.git import GitRepo
from bot.core.confirm import RELEASE_CONTEXT_PREFIX, Deployment, DeployStatus, release_ref
from bot.core.model import ImagePin, ModelPin, State
from bot.core.plan import would_follow
from bot.core.policy import EnvironmentPolicy, PromotionPolicy
from bot.errors import BotError
from bot.forge import Forge, ForgeError
from bot.kustomize import read_pins_text

#: Release commits read per environment (each is one listing of its statuses).
MAX_RELEASE_COMMITS = 20

#: (`release/<env>` tip, the pins its overlay has there), or None before the first release.
Released = tuple[str, ImagePin | None, ModelPin | None] | None


def released_pins(repo: GitRepo, policy: PromotionPolicy, env: EnvironmentPolicy) -> Released:
    """(`release/<env>` tip, the pins its overlay has there), or None before the first release."""
    sha = repo.remote_sha(release_ref(env.name))
    if sha is None:
        return None
    try:
        text = repo.show(sha, env.overlay)
        pins = read_pins_text(text, policy.image_name, policy.model_pin, env.overlay)
    except BotError:
        return sha, None, None
    return sha, pins.image, pins.model


def released_pins_of(
    repo: GitRepo, policy: PromotionPolicy, envs: Iterable[EnvironmentPolicy]
) -> dict[str, Released]:
    """`released_pins` of each environment from two git processes (its branches' tips, then
    their overlays), not one or two per environment: at 1,000 environments they were most of
    a no-op run's time."""
    wanted = list({env.name: env for env in envs}.values())
    tips = repo.remote_shas([release_ref(env.name) for env in wanted])
    specs = {
        env.name: (sha, env.overlay)
        for env in wanted
        if (sha := tips[release_ref(env.name)]) is not None
    }
    try:
        texts = repo.show_each(specs.values())
    except BotError:  # e.g. an overlay path that names a directory there: read one by one
        return {env.name: released_pins(repo, policy, env) for env in wanted}
    found: dict[str, Released] = {}
    for env in wanted:
        if env.name not in specs:
            found[env.name] = None
            continue
        sha = specs[env.name][0]
        text = texts[specs[env.name]]
        found[env.name] = (sha, None, None)  # no overlay there, or one that does not parse
        if text is None:
            continue
        try:
            pins = read_pins_text(text, policy.image_name, policy.model_pin, env.overlay)
        except BotError:
            continue
        found[env.name] = (sha, pins.image, pins.model)
    return found


def read_deployment(
    repo: GitRepo,
    forge: Forge,
    policy: PromotionPolicy,
    env: EnvironmentPolicy,
    pins: tuple[ImagePin | None, ModelPin | None],
    *,
    creators: frozenset[str] | None = None,
) -> Deployment:
    """The statuses of the commits on `release/<env>` that pin `pins` (image, model)."""
    released = released_pins(repo, policy, env)
    return _deployment(repo, forge, env, pins, released, creators=creators)


def _deployment(
    repo: GitRepo,
    forge: Forge,
    env: EnvironmentPolicy,
    pins: tuple[ImagePin | None, ModelPin | None],
    released: Released,
    *,
    creators: frozenset[str] | None,
) -> Deployment:
    if released is None or released[1:] != pins:
        return Deployment()  # not released with these pins (yet): nothing can confirm them
    ref = f"refs/remotes/origin/{release_ref(env.name)}"
    last = repo.path_history(ref, env.overlay, 1)
    commits = repo.first_parents(ref, last[0].sha if last else None, MAX_RELEASE_COMMITS)
    return statuses_of(forge, commits, creators)


def statuses_of(
    forge: Forge, commits: Sequence[str], creators: frozenset[str] | None = None
) -> Deployment:
    """The statuses of `commits` (one listing each) and the forge's clock when read, or why
    they are unknown (the forge failed, or sent statuses but no `Date` to time them by)."""
    statuses = []
    try:
        for sha in commits:
            statuses += [
                DeployStatus(
                    sha, s.context, s.state.value, s.created_at, s.id or 0, s.description, s.creator
                )
                for s in forge.list_statuses(sha)
                if s.created_at is not None
            ]
    except ForgeError as exc:
        return Deployment(unknown=f"{forge.name}: {exc}")
    read_at = forge.server_time()
    if statuses and read_at is None:
        # no fallback to the bot's clock: a runner ahead of the forge would shorten the soak
        return Deployment(
            unknown=f"{forge.name} sent no usable Date header with the statuses, so its clock "
            "is unknown: soak is counted on the forge's clock only"
        )
    own = _own_identity(forge) if any(_is_release(s.context) for s in statuses) else None
    return Deployment(tuple(statuses), tuple(commits), creators=creators, read_at=read_at, own=own)


def _is_release(context: str) -> bool:
    return context.startswith(RELEASE_CONTEXT_PREFIX)


def _own_identity(forge: Forge) -> str | None:
    """Who the bot writes as (only asked when a `promotion/release/<env>` status is there to
    judge); None when the forge cannot say (an Azure Repos bot not told its identity, a
    token that may not read its user): `bot.core.confirm.believed` then falls back to the
    allowlist, as docs/deployment-confirmation.md says."""
    try:
        return forge.identity()
    except ForgeError:
        return None


def with_deployments(
    repo: GitRepo,
    forge: Forge | None,
    policy: PromotionPolicy,
    state: State,
    *,
    unknown: str = "",
    creators: frozenset[str] | None = None,
) -> State:
    """`state` with, for every environment a later one would take pins from now
    (`bot.core.plan.would_follow`), its deployment of its pins on main (`forge` None: unknown,
    saying `unknown`). The others keep `deployment` None: no gate reads it, and reading it
    costs one status listing per release commit (decision 42)."""
    envs = dict(state.envs)
    # Only an environment a later one would take pins from is read: the soak gate runs on a
    # move, never on an environment up to date with its previous one (a no-op reads nothing).
    moving = [
        env
        for env in policy.environments
        if not env.is_first
        and would_follow(state.get(env.name), state.get(str(env.source.previous)))
    ]
    sources = list({str(e.source.previous): None for e in moving})
    released: dict[str, Released] = {}
    if forge is not None and sources:
        released = released_pins_of(repo, policy, [policy.environment(s) for s in sources])
    for name in sources:
        previous = policy.environment(name)
        current = state.get(name)
        if forge is None:
            deployment = Deployment(unknown=unknown)
        else:
            pins = (current.image, current.model)
            deployment = _deployment(repo, forge, previous, pins, released[name], creators=creators)
        envs[name] = replace(current, deployment=deployment)
    return State(envs=envs)
