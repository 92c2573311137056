"""The bot's Python API: plan, run, status, release. The CLI only reshapes arguments.

Each function wires the adapters from `Settings` and hands plain data to the pure parts
(`bot.core.plan`, `bot.runner.decide_pr_action`, `bot.release.decide_release`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from bot import runner
from bot.adapters.forges import make_forge
from bot.adapters.git import GitRepo, PushRejectedError
from bot.adapters.lockstore import lock_container
from bot.adapters.registry import RegistryClient
from bot.core.model import EnvState, ImagePin
from bot.core.plan import Plan, plan
from bot.errors import BotError, RegistryError
from bot.forge import Forge, ForgeConflictError, ForgeError, PullRequest
from bot.imagespec import split_registry
from bot.lock import LeaseHandle, run_lock
from bot.overlay.validate import OverlayPolicy, validate_overlays
from bot.release import (
    ISSUE_LABEL,
    ISSUE_MARKER,
    ISSUE_TITLE,
    ForgeReport,
    IssueAction,
    ReleaseDecision,
    ReleaseProblem,
    decide_issue,
    run_release,
)
from bot.settings import Settings, SettingsError
from modelstore import ModelStore, ModelStoreError

MAX_ATTEMPTS = 3


@dataclass
class Services:
    settings: Settings
    repo: GitRepo
    store: ModelStore
    registries: dict[str, RegistryClient] = field(default_factory=dict)
    _forge: Forge | None = None

    def registry(self, host: str) -> RegistryClient:
        if host not in self.registries:
            self.registries[host] = RegistryClient.for_host(
                host,
                self.settings.registry_username,
                self.settings.registry_password,
                page_size=1000,
            )
        return self.registries[host]

    @property
    def forge(self) -> Forge:
        if self._forge is None:
            self._forge = make_forge(self.settings)
        return self._forge

    def read_world(self) -> runner.World:
        return runner.read_world(
            self.repo,
            self.registry,
            self.store,
            base=self.settings.base_branch,
            policy_file=self.settings.policy_file,
            registry_host=self.settings.registry_host,
        )


def connect(settings: Settings) -> Services:
    try:
        store = ModelStore.from_env(settings.environ)
    except ModelStoreError as exc:
        raise SettingsError(f"model store settings: {exc}") from exc
    repo = runner.prepare_checkout(settings.gitops_remote, settings.checkout_dir())
    return Services(settings, repo, store)


@contextlib.contextmanager
def _locked(settings: Settings, enabled: bool) -> Iterator[LeaseHandle | None]:
    """The run lock (None when disabled); call `ensure_held()` on it before remote writes."""
    if not enabled:
        yield None
        return
    with run_lock(lock_container(settings)) as handle:
        yield handle


def make_plan(services: Services, now: datetime) -> tuple[runner.World, Plan]:
    world = services.read_world()
    return world, plan(world.state, world.candidates, world.policy, now)


def run(settings: Settings, *, now: datetime, dry_run: bool = False) -> runner.RunReport:
    """One scheduled run. Retries from a fresh read when the remote moved under us."""
    with _locked(settings, enabled=not dry_run) as lock:
        ensure_held = lock.ensure_held if lock is not None else (lambda: None)
        services = connect(settings)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return _run_once(services, now=now, dry_run=dry_run, ensure_held=ensure_held)
            except (PushRejectedError, ForgeConflictError):
                # someone moved a branch or a PR head under us: start again from a fresh read
                if attempt == MAX_ATTEMPTS:
                    raise
            time.sleep(0.5 * 2**attempt)
            services.repo.fetch()
    raise BotError("unreachable")  # pragma: no cover


def _run_once(
    services: Services,
    *,
    now: datetime,
    dry_run: bool,
    ensure_held: Callable[[], None] = lambda: None,
) -> runner.RunReport:
    world, result = make_plan(services, now)
    report = runner.RunReport(result, dry_run=dry_run)
    open_prs = services.forge.open_prs(world.base, runner.BRANCH_PREFIX)
    actions = runner.plan_actions(
        world,
        result,
        repo=services.repo,
        open_prs=open_prs,
        commit_range=runner.commit_range_via(services.forge),
        comments_of=services.forge.comments,
        closed_prs_of=lambda head: services.forge.closed_prs(head, world.base),
    )
    for action in actions:
        diff = ""
        if action.new_text is not None and action.promotion is not None:
            diff = runner.unified_diff(
                action.promotion.overlay, world.overlays[action.env], action.new_text
            )
        if dry_run:
            number = action.pr.number if action.pr else None
            report.outcomes.append(
                runner.EnvOutcome(action.env, action.kind, action.reason, number, diff)
            )
            continue
        ensure_held()  # never write for an environment once the run lock is lost
        outcome = runner.execute(
            action,
            repo=services.repo,
            forge=services.forge,
            world=world,
            automerge=world.policy.environment(action.env).automerge,
            validate=_overlay_validator(world.policy),
        )
        outcome.diff = diff
        report.outcomes.append(outcome)
    return report


def _overlay_validator(policy: OverlayPolicy) -> Callable[[GitRepo, str], list[str]]:
    """The automerge check: the overlays on the pushed branch render and validate."""

    def validate(repo: GitRepo, env: str) -> list[str]:
        del env  # every overlay is checked: a broken base breaks them all
        return [str(p) for p in validate_overlays(repo.path, policy)]

    return validate


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class EnvStatus:
    env: str
    on_main: str
    released: str
    pending_pr: str
    next_step: str


def _pins_text(state_env: EnvState) -> str:
    image, model = state_env.image, state_env.model
    parts = [f"image {image.tag}" if image is not None and image.tag else "image —"]
    parts.append(f"model {model.name} v{model.version}" if model is not None else "model —")
    return ", ".join(parts)


def status(settings: Settings, *, now: datetime) -> list[EnvStatus]:
    services = connect(settings)
    world, result = make_plan(services, now)
    released_state = None
    if services.repo.remote_sha("release") is not None:
        released_state, _ = runner.read_state(
            services.repo, "refs/remotes/origin/release", world.policy
        )
    prs: dict[str, PullRequest] = {}
    if settings.forge_token:
        prs = services.forge.open_prs(world.base, runner.BRANCH_PREFIX)
    rows = []
    for env_plan in result.envs:
        pr = prs.get(runner.branch_for(env_plan.env))
        if env_plan.promotion is not None:
            step = f"promote: {env_plan.promotion.summary.split(': ', 1)[1]}"
        elif env_plan.held is not None:
            step = "held: " + "; ".join(env_plan.reasons)
        else:
            step = "up to date: " + "; ".join(env_plan.reasons)
        rows.append(
            EnvStatus(
                env=env_plan.env,
                on_main=_pins_text(world.state.get(env_plan.env)),
                released=_pins_text(released_state.get(env_plan.env))
                if released_state
                else "(no release yet)",
                pending_pr=f"#{pr.number} {pr.title}" if pr else "none",
                next_step=step,
            )
        )
    return rows


# --------------------------------------------------------------------------- release


def release(settings: Settings, *, today: date) -> ReleaseDecision:
    """Validate main and move `release`; then report on the forge (`decision.report`).

    The report never changes the decision: GitHub being down leaves a blocked release blocked
    and a release released, with `report.action == "failed"` saying why."""
    with _locked(settings, enabled=True) as lock:
        ensure_held = lock.ensure_held if lock is not None else (lambda: None)
        services = connect(settings)
        decision = run_release(
            services.repo,
            checks=[
                lambda repo: _check_overlays(services, repo),
                lambda repo: _check_artifacts(services, repo),
            ],
            today=today,
            base=settings.base_branch,
            before_write=ensure_held,
        )
        ensure_held()  # the issue is a remote write too
        return dataclasses.replace(decision, report=report_release(settings, decision))


# The report is best effort next to the release itself: fewer, shorter retries than a run's.
REPORT_RETRIES = 2
REPORT_MAX_RATE_LIMIT_WAIT = 10.0


def report_release(settings: Settings, decision: ReleaseDecision) -> ForgeReport:
    """Keep the one `release-blocked` issue in step with the decision (see `decide_issue`)."""
    if not settings.forge_token:
        what = "the blocked release" if decision.action == "blocked" else "the release"
        token = settings.forge_variable("TOKEN")
        return ForgeReport(
            "skipped", f"{token} is not set: {what} was not reported on {settings.forge_name}"
        )
    secrets = settings.secrets()
    clean = dataclasses.replace(
        decision,
        reason=runner.redact(decision.reason, secrets),
        problems=tuple(
            ReleaseProblem(runner.redact(p.where, secrets), runner.redact(p.message, secrets))
            for p in decision.problems
        ),
    )
    forge = make_forge(
        settings, retries=REPORT_RETRIES, max_rate_limit_wait=REPORT_MAX_RATE_LIMIT_WAIT
    )
    try:
        action = decide_issue(clean, forge.find_open_issue(label=ISSUE_LABEL, marker=ISSUE_MARKER))
        return _apply_issue_action(forge, action)
    except ForgeError as exc:
        return ForgeReport(
            "failed",
            f"could not post the report to {forge.name} (the release outcome above stands): "
            + runner.redact(str(exc), secrets),
        )


def _apply_issue_action(forge: Forge, action: IssueAction) -> ForgeReport:
    where = f"issue #{action.number} {action.url}"
    if action.kind == "create" and action.body is not None:
        issue = forge.create_issue(ISSUE_TITLE, action.body, [ISSUE_LABEL])
        url = issue.url
        return ForgeReport(
            "created", f"reported on {forge.name}: opened issue #{issue.number} {url}", url
        )
    if action.kind == "update" and action.number is not None and action.body is not None:
        forge.update_issue(action.number, action.body)
        return ForgeReport("updated", f"reported on {forge.name}: updated {where}", action.url)
    if action.kind == "close" and action.number is not None and action.comment is not None:
        forge.close_issue(action.number, action.comment)
        return ForgeReport("closed", f"closed {where} on {forge.name}", action.url)
    if action.number is not None:
        return ForgeReport(
            "unchanged", f"already reported on {forge.name}, nothing written: {where}", action.url
        )
    return ForgeReport("none", action.reason)


def _check_overlays(services: Services, repo: GitRepo) -> list[ReleaseProblem]:
    """Every environment's overlay on the checked-out main renders and validates."""
    policy = runner.read_policy(repo, "HEAD", services.settings.policy_file, None)
    return [
        ReleaseProblem(p.file, f"{p.field}: {p.message}")
        for p in validate_overlays(repo.path, policy)
    ]


def _check_image(
    registry: RegistryClient, registry_host: str, where: str, pin: ImagePin
) -> list[ReleaseProblem]:
    """The pinned digest exists in the repository the overlay names (on the bot's registry)."""
    host, repository = split_registry(pin.new_name or pin.name)
    if host != registry_host:
        return [
            ReleaseProblem(
                where,
                f"image {pin.reference}: pinned to registry {host or '(none)'}, but the bot "
                f"checks {registry_host} (promotion.yaml registry.host / REGISTRY_HOST)",
            )
        ]
    try:
        registry.manifest_digest(repository, str(pin.digest))
    except RegistryError as exc:
        return [ReleaseProblem(where, f"image {pin.reference}: {exc}")]
    return []


def _check_artifacts(services: Services, repo: GitRepo) -> list[ReleaseProblem]:
    """Every pinned digest exists in the registry; every pinned model has the pinned sha."""
    ref = "HEAD"
    policy = runner.read_policy(
        repo, ref, services.settings.policy_file, services.settings.registry_host
    )
    state, _ = runner.read_state(repo, ref, policy)
    registry = services.registry(policy.registry.host)
    problems = []
    for env in policy.environments:
        pins = state.get(env.name)
        where = env.overlay
        if pins.image is not None and pins.image.digest:
            problems += _check_image(registry, policy.registry.host, where, pins.image)
        if pins.model is not None:
            try:
                manifest = services.store.get_manifest(pins.model.name, pins.model.version)
            except ModelStoreError as exc:
                problems.append(ReleaseProblem(where, f"model: {exc}"))
                continue
            if manifest.primary_sha256 != pins.model.sha256:
                problems.append(
                    ReleaseProblem(
                        where,
                        f"model {pins.model.name} v{pins.model.version}: pinned sha256 "
                        f"{pins.model.sha256[:12]}… but the store has "
                        f"{manifest.primary_sha256[:12]}…",
                    )
                )
    return problems
