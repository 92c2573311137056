"""The nightly release's shell: the checks of `main` and the report on the forge.

`bot.release` decides (pure) and sequences the git side; this module supplies the checks it
runs (the overlays validate, every pinned image and model exists exactly as pinned) and keeps
the one `release-blocked` issue in step with the decision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from pathlib import Path

from bot.adapters.git import GitRepo
from bot.adapters.registry import RegistryClient
from bot.core.confirm import Deployment
from bot.core.model import EnvState, ImagePin, State
from bot.core.policy import EnvironmentPolicy, PromotionPolicy
from bot.core.release_gate import Outside, ReleaseWait, own_confirmation, release_wait
from bot.deployments import Released, read_deployment, released_pins
from bot.errors import RegistryError
from bot.forge import Forge, ForgeError
from bot.imagespec import split_registry
from bot.outside import read_outside, read_own
from bot.overlay.validate import validate_overlays
from bot.release import (
    ISSUE_LABEL,
    ISSUE_MARKER,
    ISSUE_TITLE,
    TAG_PREFIX,
    ForgeReport,
    IssueAction,
    IssueActionKind,
    ReleaseAction,
    ReleaseDecision,
    ReleaseProblem,
    ReportOutcome,
    decide_issue,
    is_release_tag,
    run_release,
)
from bot.release_status import Posted, StatusResult, ensure_release_status, unvouched
from bot.runner import redact
from bot.settings import Settings
from bot.wiring import Services, report_forge, store_mismatch
from bot.world import read_policy, read_state
from modelstore import ModelStoreError


def release(
    services: Services, *, today: date, ensure_held: Callable[[], None], now: datetime | None = None
) -> ReleaseDecision:
    """Validate main and move each environment's `release/<env>` its gate allows (frozen,
    held or unsoaked environments wait; the others move); then report on the forge."""
    when = now or datetime.combine(today, time(12), UTC)
    repo, settings = services.repo, services.settings
    repo.fetch()
    base = f"refs/remotes/origin/{settings.base_branch}"
    policy = (
        read_policy(repo, base, settings.policy_file, None)
        if repo.remote_sha(settings.base_branch)
        else None
    )
    names = policy.names if policy is not None else []
    gate = ReleaseGate(services, when, ensure_held)
    decision = run_release(
        repo,
        checks=[
            lambda repo: check_overlays(services, repo),
            lambda repo: check_artifacts(services, repo),
        ],
        today=today,
        envs=names,
        gate=gate,
        base=settings.base_branch,
        before_write=ensure_held,
        after_move=gate.record,
        note=gate.note,
    )
    if policy is not None:
        gate.repair(decision, soaked_in(policy))
    ensure_held()  # the issue is a remote write too
    written = tuple(r for r in gate.posted if r.outcome is not Posted.PRESENT)
    report = report_release(services.settings, decision)
    return dataclasses.replace(decision, report=report, statuses=written)


def soaked_in(policy: PromotionPolicy) -> list[str]:
    """The environments another one soaks in: whose `promotion/release/<env>` is read."""
    return [
        str(env.source.previous) for env in policy.environments if env.source.previous is not None
    ]


class ReleaseGate:
    """Per environment, on the checked-out main: why its ref may not move now (freeze at
    release time in the environment's zone, hold, soak from the previous environment's
    confirmation: `bot.core.release_gate.release_wait`). `ref`: the main it reads, the
    release checkout's HEAD; `promotion-bot status` asks the same of origin's main
    (`bot.api.status`), so it says what the nightly would."""

    def __init__(
        self,
        services: Services,
        now: datetime,
        ensure_held: Callable[[], None] = lambda: None,
        *,
        ref: str = "HEAD",
    ) -> None:
        self.services = services
        self.now = now
        self.ensure_held = ensure_held
        self.ref = ref
        self.posted: list[StatusResult] = []  # the `promotion/release/<env>` statuses
        self._read: tuple[PromotionPolicy, State] | None = None
        self.notes: dict[str, str] = {}  # per environment, what its release report adds

    def note(self, name: str) -> str | None:
        """What the release of `name` should say besides the move (a first release adopted
        from its own cluster's confirmation), once the gate let it move."""
        return self.notes.get(name)

    @property
    def forge(self) -> Forge | None:
        readable = self.services.settings.forge_credentials_set()
        return self.services.forge if readable else None

    def _world(self) -> tuple[PromotionPolicy, State]:
        if self._read is None:
            repo, settings = self.services.repo, self.services.settings
            policy = read_policy(repo, self.ref, settings.policy_file, settings.registry_host)
            self._read = policy, read_state(repo, self.ref, policy)[0]
        return self._read

    def __call__(self, name: str) -> str | None:
        wait = self.wait(name)
        return wait.reason if wait is not None else None

    def wait(self, name: str) -> ReleaseWait | None:
        """Why `release/<name>` may not move to main now, and until when (None: it may)."""
        policy, state = self._world()
        repo, env, now = self.services.repo, policy.environment(name), self.now
        main = state.get(name)
        released = released_pins(repo, policy, env)
        image_moves = released is None or released[1] != main.image
        model_moves = released is None or released[2] != main.model
        frozen = env.frozen_until(now)
        hold = env.hold
        covered = (
            hold is not None
            and hold.active(now)
            and hold.covers(image_moves=image_moves, model_moves=model_moves)
        )
        deployment = outside = own = None
        previous = env.source.previous
        if previous is not None and frozen is None and not covered:
            deployment, outside, own = self._soak_facts(policy, env, previous, main, released)
        return release_wait(
            env=name,
            previous=previous,
            frozen=(frozen[0].label, frozen[1]) if frozen else None,
            hold=hold.describe() if covered and hold is not None else None,
            hold_until=hold.until if covered and hold is not None else None,
            moves=image_moves or model_moves,
            soak=env.soak,
            mode=env.confirm,
            deployment=deployment,
            now=now,
            outside=outside,
            own=own,
        )

    def _soak_facts(
        self,
        policy: PromotionPolicy,
        env: EnvironmentPolicy,
        previous: str,
        main: EnvState,
        released: Released,
    ) -> tuple[Deployment, Outside, Deployment | None]:
        """What the previous environment confirmed of the pins on main and of the changes
        outside them; for a first release, what the environment's own cluster confirmed."""
        repo, forge = self.services.repo, self.forge
        creators = self.services.settings.deploy_status_creators()
        token = self.services.settings.forge_variable("TOKEN")
        unknown = f"{token} is not set: statuses not read"
        pins = (main.image, main.model)
        prev = policy.environment(previous)
        moves = released is None or released[1:] != pins
        deployment = Deployment(unknown=unknown)
        if forge is not None and moves:
            deployment = read_deployment(repo, forge, policy, prev, pins, creators=creators)
        head = repo.head_sha() if self.ref == "HEAD" else str(repo.resolve(self.ref))
        since = released[0] if released is not None else None
        own = None
        if released is None and forge is not None:
            adopted = read_own(repo, forge, policy, env, pins, main=head, creators=creators)
            if adopted is not None and own_confirmation(env.name, adopted[1]) is not None:
                since, own = adopted
                self.notes[env.name] = str(own_confirmation(env.name, own))
        outside = read_outside(
            repo,
            forge,
            policy,
            env,
            prev,
            main=head,
            since=since,
            creators=creators,
            unknown=unknown,
        )
        return deployment, outside, own

    def record(self, decision: ReleaseDecision) -> None:
        """The forge's time of the move: `promotion/release/<env>` on the commit (what
        `confirm: release` counts from), retried in this run and repaired by the next one
        when the forge fails (`bot.release_status`)."""
        forge, env, sha = self.forge, decision.env, decision.main_sha
        if forge is None or env is None or sha is None:
            return
        # a ref tagged where it already was may carry the status: look before posting
        look = decision.from_sha == sha
        self.posted.append(
            ensure_release_status(forge, env, sha, look_first=look, before_write=self.ensure_held)
        )

    def repair(self, night: ReleaseDecision, envs: Iterable[str]) -> None:
        """The tip of each of `envs`' release refs that did not move tonight carries its
        `promotion/release/<env>` (posted late if an earlier run's post failed): one GET
        each, no write when it is there. Only a tip the nightly release moved there (on main,
        with its `release-<env>-*` tag, `unvouched`): the status vouches for that move."""
        forge, repo = self.forge, self.services.repo
        wanted = set(envs)
        tips = [
            (d.env, d.from_sha)
            for d in night.envs
            if d.env in wanted and d.from_sha is not None and d.action is not ReleaseAction.RELEASE
        ]
        if forge is None or not tips:
            return
        tags = repo.remote_tag_commits(f"{TAG_PREFIX}*")  # one listing for every tip
        for env, tip in tips:
            on_main = night.main_sha is not None and repo.is_ancestor(tip, night.main_sha)
            tagged = any(at == tip and is_release_tag(name, env) for name, at in tags.items())
            refused = unvouched(env, tip, on_main=on_main, tagged=tagged)
            self.posted.append(
                refused
                or ensure_release_status(
                    forge, env, tip, look_first=True, late=True, before_write=self.ensure_held
                )
            )


def report_release(settings: Settings, decision: ReleaseDecision) -> ForgeReport:
    """Keep the one `release-blocked` issue in step with the decision (see `decide_issue`)."""
    if not settings.forge_credentials_set():
        blocked = decision.action is ReleaseAction.BLOCKED
        what = "the blocked release" if blocked else "the release"
        token = settings.forge_variable("TOKEN")
        return ForgeReport(
            ReportOutcome.SKIPPED,
            f"{token} is not set: {what} was not reported on {settings.forge_name}",
        )
    secrets = settings.secrets()
    clean = dataclasses.replace(
        decision,
        reason=redact(decision.reason, secrets),
        problems=tuple(
            ReleaseProblem(redact(p.where, secrets), redact(p.message, secrets))
            for p in decision.problems
        ),
    )
    forge = report_forge(settings)
    try:
        action = decide_issue(clean, forge.find_open_issue(label=ISSUE_LABEL, marker=ISSUE_MARKER))
        return apply_issue_action(forge, action)
    except ForgeError as exc:
        return ForgeReport(
            ReportOutcome.FAILED,
            f"could not post the report to {forge.name} (the release outcome above stands): "
            + redact(str(exc), secrets),
        )


def apply_issue_action(forge: Forge, action: IssueAction) -> ForgeReport:
    number, kind, on = action.number, IssueActionKind, forge.name
    where = f"issue #{number} {action.url}"
    if action.kind is kind.CREATE and action.body is not None:
        issue = forge.create_issue(ISSUE_TITLE, action.body, [ISSUE_LABEL])
        message = f"reported on {on}: opened issue #{issue.number} {issue.url}"
        return ForgeReport(ReportOutcome.CREATED, message, issue.url)
    if action.kind is kind.UPDATE and number is not None and action.body is not None:
        forge.update_issue(number, action.body)
        return ForgeReport(ReportOutcome.UPDATED, f"reported on {on}: updated {where}", action.url)
    if action.kind is kind.CLOSE and number is not None and action.comment is not None:
        forge.close_issue(number, action.comment)
        return ForgeReport(ReportOutcome.CLOSED, f"closed {where} on {on}", action.url)
    if number is not None:
        message = f"already reported on {on}, nothing written: {where}"
        return ForgeReport(ReportOutcome.UNCHANGED, message, action.url)
    return ForgeReport(ReportOutcome.NONE, action.reason)


# --------------------------------------------------------------------------- checks of main


def check_overlays(services: Services, repo: GitRepo) -> list[ReleaseProblem]:
    """Every environment's overlay on the checked-out main renders and validates."""
    policy = read_policy(repo, "HEAD", services.settings.policy_file, None)
    return [
        ReleaseProblem(_in_repo(p.file, repo.path), _in_repo(f"{p.field}: {p.message}", repo.path))
        for p in validate_overlays(repo.path, policy)
    ]


def _in_repo(text: str, root: Path) -> str:
    """`text` with the checkout's absolute path dropped: the issue names repository paths
    (the runner's working directory means nothing to the reader, and is not theirs to see)."""
    prefix = str(root.resolve())
    for form in sorted({prefix, str(root)}, key=len, reverse=True):
        text = text.replace(form + "/", "").replace(form, ".")
    return text


def check_image(
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


def check_artifacts(services: Services, repo: GitRepo) -> list[ReleaseProblem]:
    """Every pinned digest exists in the registry; every pinned model has the pinned sha in the
    store the pods read (`promotion.yaml` `model_store`, see `Services.pods_store`)."""
    ref = "HEAD"
    policy = read_policy(repo, ref, services.settings.policy_file, services.settings.registry_host)
    state, _ = read_state(repo, ref, policy)
    registry = services.registry(policy.registry.host)
    problems = []
    mismatch = store_mismatch(services.settings, policy.model_store)
    if mismatch is not None:
        problems.append(ReleaseProblem(services.settings.policy_file, f"model_store: {mismatch}"))
    store = services.pods_store(policy.model_store)  # each pin is checked where the pods read
    for env in policy.environments:
        pins = state.get(env.name)
        where = env.overlay
        if pins.image is not None and pins.image.digest:
            problems += check_image(registry, policy.registry.host, where, pins.image)
        if pins.model is not None:
            try:
                manifest = store.get_manifest(pins.model.name, pins.model.version)
            except ModelStoreError as exc:
                problems.append(ReleaseProblem(where, f"model: {exc}"))
                continue
            if manifest.primary_sha256 != pins.model.sha256:
                problems.append(
                    ReleaseProblem(
                        where,
                        f"model {pins.model.name} v{pins.model.version}: pinned sha256 "
                        f"{pins.model.sha256[:12]}… but the store the pods read has "
                        f"{manifest.primary_sha256[:12]}…",
                    )
                )
    return problems
