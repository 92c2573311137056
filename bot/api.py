"""The bot's Python API: plan, run, status, release. A facade: the CLI only reshapes arguments,
and each function here only wires (`bot.wiring`), takes the run lock, and hands over to the
module that does the work. Results are structured data; `bot.render` turns them into text.

- `run`: `bot.runner` (read the world → decide: plan + PR action table → apply)
- `release`: `bot.release` (decide, move each `release/<env>`) and `bot.nightly` (checks,
  gates, forge report)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from bot import holding, nightly, notify, rollingback, runner
from bot.adapters.git import GitRepo
from bot.core.confirm import Confirmation, ConfirmMode, Deployment, confirmation
from bot.core.model import EnvState
from bot.core.plan import EnvPlan, Plan, plan
from bot.core.policy import EnvironmentPolicy, Hold
from bot.core.pr_action import BRANCH_PREFIX, branch_for
from bot.core.release_gate import ReleaseWait
from bot.deployments import Released, read_deployment, released_pins_of
from bot.forge import PullRequest
from bot.listings import listed_once
from bot.overlay.validate import validate_overlays
from bot.policy import PromotionPolicy
from bot.proposal import ProposalOutcome
from bot.release import ReleaseDecision
from bot.settings import Settings
from bot.wiring import Services, connect, locked
from bot.world import World

__all__ = [
    "EnvStatus",
    "ReleaseStep",
    "Services",
    "connect",
    "hold",
    "make_plan",
    "release",
    "rollback",
    "run",
    "status",
]


def make_plan(services: Services, now: datetime) -> tuple[World, Plan]:
    world = services.read_world()
    return world, plan(world.state, world.candidates, world.policy, now)


def run(settings: Settings, *, now: datetime, dry_run: bool = False) -> runner.RunReport:
    """One scheduled run (under the run lock unless dry). Retries from a fresh read when the
    remote moved under us."""
    with locked(settings, enabled=not dry_run) as ensure_held:
        services = connect(settings)
        report = runner.run(
            services,
            now=now,
            dry_run=dry_run,
            validate=_validate_env,
            ensure_held=ensure_held,
        )
    if not dry_run:  # PR opened / merged to the policy's webhooks; never fails the run
        notify.notifier_for(services)(notify.run_events(report, services.forge))
    return report


def _validate_env(repo: GitRepo, policy: PromotionPolicy) -> list[str]:
    """The automerge check: every overlay on the pushed branch renders and validates (a
    broken base breaks them all)."""
    return [str(p) for p in validate_overlays(repo.path, policy)]


@dataclass(frozen=True)
class ReleaseStep:
    """What the nightly release would do with `release/<env>` now, asked of the gate it uses
    (`bot.nightly.ReleaseGate`, on origin's main): nothing (`up_to_date`: the ref is at main),
    move it (`wait` None; main's checks still run that night), or wait (`wait`). `zone`: the
    environment's, where its freeze windows are (UTC without any), for the times shown."""

    up_to_date: bool
    wait: ReleaseWait | None = None
    zone: str = "UTC"


def env_zone(env: EnvironmentPolicy) -> str:
    """The environment's time zone: its first freeze window's (UTC when it has none)."""
    return env.freeze_windows[0].timezone if env.freeze_windows else "UTC"


@dataclass(frozen=True)
class EnvStatus:
    """One environment: its pins on main and on its `release/<env>` (None: no release yet),
    what its cluster confirmed running (the controller's statuses on that release), its open
    promotion PR, and what the plan would do now."""

    env: str
    on_main: EnvState
    released: EnvState | None
    pending_pr: PullRequest | None
    plan: EnvPlan
    hold: Hold | None = None  # recorded in deploy/holds.yaml on main (maybe expired)
    confirmed: Confirmation | None = None  # of the released pins (None: nothing released)
    release: ReleaseStep | None = None  # what the nightly release would do now (None: unknown)


def status(settings: Settings, *, now: datetime) -> list[EnvStatus]:
    """Per environment, what `EnvStatus` holds. Writes nothing, so each release commit's
    statuses are listed once however many questions read them (`bot.listings`)."""
    services = connect(settings)
    readable = settings.forge_credentials_set()
    if readable:
        services = replace(services, _forge=listed_once(services.forge))
    world, result = make_plan(services, now)
    prs: dict[str, PullRequest] = {}
    if readable:
        prs = services.forge.open_prs(world.base, BRANCH_PREFIX)
    rows = []
    envs = [world.policy.environment(env_plan.env) for env_plan in result.envs]
    released_all = released_pins_of(services.repo, world.policy, envs)
    # the nightly's gate, on origin's main: its reads and its rule, not a copy of them
    gate = nightly.ReleaseGate(services, now, ref=f"refs/remotes/origin/{world.base}")
    for env_plan, env in zip(result.envs, envs, strict=True):
        released = released_all[env.name]
        released_state = confirmed = None
        if released is not None:
            released_state = EnvState(env.name, released[1], released[2])
            deployment = (
                read_deployment(
                    services.repo,
                    services.forge,
                    world.policy,
                    env,
                    released[1:],
                    creators=settings.deploy_status_creators(),
                )
                if readable
                else Deployment(unknown=f"{settings.forge_variable('TOKEN')} is not set")
            )
            confirmed = confirmation(env.name, deployment, ConfirmMode.COMMIT_STATUS)
        rows.append(
            EnvStatus(
                env=env_plan.env,
                on_main=world.state.get(env_plan.env),
                released=released_state,
                pending_pr=prs.get(branch_for(env_plan.env)),
                plan=env_plan,
                hold=env.hold,
                confirmed=confirmed,
                release=release_step(gate, env, released, world.main_sha),
            )
        )
    return rows


def release_step(
    gate: nightly.ReleaseGate, env: EnvironmentPolicy, released: Released, main_sha: str
) -> ReleaseStep:
    """The nightly's answer for `env`: at main there is nothing to ask (it asks nothing
    either, so no read is made); otherwise its gate's."""
    if released is not None and released[0] == main_sha:
        return ReleaseStep(True, zone=env_zone(env))
    return ReleaseStep(False, gate.wait(env.name), env_zone(env))


def hold(settings: Settings, env: str, new: Hold | None) -> ProposalOutcome:
    """Propose holding `env` (or, with None, lifting its hold) by a PR on `hold/<env>`."""
    return holding.propose(connect(settings), env, new)


def rollback(
    settings: Settings, env: str, reason: str, to: str | None = None, *, direct: bool = False
) -> ProposalOutcome:
    """Propose rolling `env`'s pins back (before its last promotion, or to those at `to`) by a
    PR on `rollback/<env>`; with `direct`, push it to main where the policy allows it."""
    services = connect(settings)
    outcome = rollingback.rollback(services, env, reason, to, direct=direct)
    notify.notifier_for(services)(notify.rollback_events(outcome))
    return outcome


def release(settings: Settings, *, today: date, now: datetime | None = None) -> ReleaseDecision:
    """Validate main and move each `release/<env>` its gate allows; then report on the forge
    (`decision.report`).

    The report never changes the decision: the forge being down leaves a blocked release
    blocked and a release released, with `report.action` FAILED saying why."""
    with locked(settings, enabled=True) as ensure_held:
        services = connect(settings)
        decision = nightly.release(services, today=today, ensure_held=ensure_held, now=now)
    notify.notifier_for(services)(notify.release_events(decision))
    return decision
