"""The promotion dashboard: one issue on the forge that the bot keeps, and reads back.

Found by its label, a hidden marker and its author (`Forge.find_open_issue`), like the
release-blocked issue. Its body is the status matrix (`status --json`'s rows as they are, so a
field status gains is a column), the boxes a reviewer can tick, the open hold/rollback PRs, the
recent promotions and rollbacks from Git history and the models awaiting evaluation (discovered
as the run does; a pair whose result is not in the store's cache: read, never computed here).
It is rewritten only when that text changes: nothing in it counts time passing (status's "in
dev for 8m" is dropped, the absolute "ready at" stays), so a run with nothing new writes
nothing.

A ticked box is a request, acted on through the normal reviewed path by the next run
(`sync`): "hold ENV" opens the hold PR (`bot.holding`, as `promotion-bot hold ENV` does);
"promote ENV now" on a held environment opens the PR lifting its hold (`unhold`), after which
promotions resume on their gates (soak, freeze windows and metrics are not overridden). The
rewritten body has the box unticked; a request that failed stays ticked, so the next run
retries it.

Who can ask: whoever can edit the issue's body. On GitHub that is its author (the bot) and
people with write access (triage can label and close issues, not edit others' bodies); on Azure
Boards anyone who may edit work items of the project, which includes Stakeholders without
repository access. The issue is found by label and marker AND its author: someone who can label
issues (triage) could close the bot's issue and open a labelled one of their own with the
marker; that issue is ignored (the run says so) and the bot opens its own. The bot's identity
is `Forge.identity()` (GitHub: the token's user, or a GitHub App's `<slug>[bot]`); on Azure
Repos the operator names it (`AZURE_REPOS_BOT_IDENTITY`); unset, the author is not checked
there (the run says so). Either way a tick only opens the hold/unhold PR, which a reviewer
merges like every change (nothing here merges, nor overrides a gate).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot import api, holding, render
from bot.adapters.evaluation import awaiting_evaluation
from bot.adapters.modelstore import discover_manifests
from bot.core.policy import Hold, HoldScope
from bot.errors import BotError
from bot.forge import Forge, Issue, PullRequest
from bot.holds import HOLDS_FILE
from bot.policy import PromotionPolicy
from bot.proposal import ProposalOutcome
from bot.report.history import Change, read_changes
from bot.report.page import KIND_LABELS, heading
from bot.rollingback import ROLLBACK_BRANCH_PREFIX
from bot.settings import Settings
from bot.untrusted import code, markdown
from bot.wiring import Services, connect, locked
from bot.world import read_policy, read_state

LABEL = "promotion-dashboard"
TITLE = "Promotion dashboard"
MARKER = "<!-- promotion-bot:dashboard -->"
RECENT = 10  # promotions and rollbacks listed
BY = "promotion-dashboard"  # who a hold asked for on the dashboard is by (the forge does not say)

_BOX_RE = re.compile(
    r"^\s*[-*] \[(?P<mark>[ xX])\] <!-- promotion-bot:dashboard (?P<verb>hold|promote) "
    r"(?P<env>[A-Za-z0-9._-]{1,63}) -->",
    re.MULTILINE,
)
# What `human()` durations look like in status text: "in dev for 1h2m3s", "for -5m"
_ELAPSED_RE = re.compile(r" for -?(?:\d+[dhms])+\b")


@dataclass(frozen=True)
class Ask:
    verb: str  # hold | promote
    env: str


@dataclass
class DashboardOutcome:
    """What `sync` did: the issue's action (`create`, `update`, `noop`), the requests it acted
    on, and the body it wrote or found current."""

    action: str
    issue: Issue | None
    body: str
    acted: list[tuple[Ask, ProposalOutcome | str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the run output says besides

    @property
    def wrote(self) -> bool:
        return self.action != "noop" or any(
            isinstance(o, ProposalOutcome) and o.wrote for _, o in self.acted
        )


# ----------------------------------------------------------------------------- pure


def steady(text: str) -> str:
    """Status text without what changes by itself as time passes (elapsed durations)."""
    return _ELAPSED_RE.sub("", text)


def ticked(body: str, envs: Sequence[str]) -> list[Ask]:
    """The boxes ticked in `body`, for environments the policy names, each once, in order."""
    asks: list[Ask] = []
    for found in _BOX_RE.finditer(body):
        ask = Ask(found["verb"], found["env"])
        if found["mark"] != " " and ask.env in envs and ask not in asks:
            asks.append(ask)
    return asks


def box(ask: Ask, text: str, *, ticked: bool = False) -> str:
    mark = "x" if ticked else " "
    return f"- [{mark}] <!-- promotion-bot:dashboard {ask.verb} {ask.env} --> {text}"


def table(rows: Sequence[Mapping[str, str]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    lines = [
        "| " + " | ".join(markdown(heading(k)) for k in keys) + " |",
        "|" + "---|" * len(keys),
    ]
    for row in rows:
        cells = [markdown(steady(row.get(k, "")), limit=600) for k in keys]
        cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _change_row(change: Change) -> str:
    model = f"{change.model_name} v{change.model_version}" if change.model_name else "—"
    cells = [
        change.when.strftime("%Y-%m-%d %H:%M UTC"),
        change.env,
        KIND_LABELS.get(change.kind, change.kind),
        f"#{change.pr}" if change.pr is not None else "—",
        change.image_tag or "—",
        model,
        change.author,
    ]
    rendered = [markdown(c) for c in cells]
    if change.pr is not None and change.by_bot:  # the only reference left live: the bot's PR
        rendered[3] = f"#{change.pr}"
    return "| " + " | ".join(rendered) + " |"


def render_body(
    rows: Sequence[Mapping[str, str]],
    held: Mapping[str, bool],
    proposals: Sequence[PullRequest],
    changes: Sequence[Change],
    keep_ticked: Sequence[Ask] = (),
    *,
    awaiting: Sequence[tuple[str, int, str, tuple[str, ...]]] = (),
) -> str:
    """The whole issue body (pure). `held`: env → has a hold on main; `keep_ticked`: requests
    that failed this run, left ticked for the next."""
    lines = [
        MARKER,
        "Kept by promotion-bot: rewritten when what it shows changes. Tick a box to ask for a "
        "change; the next run opens the pull request (a reviewer merges it, as for every "
        "change) and unticks the box.",
        "",
        "## Environments",
        "",
        *table(rows),
        "",
        "## Ask the bot",
        "",
    ]
    for row in rows:
        env = row.get("env", "")
        name = markdown(env)
        if held.get(env):
            ask = Ask("promote", env)
            text = f"promote **{name}** now: a PR lifting its hold (gates still apply)"
        else:
            ask = Ask("hold", env)
            text = f"hold **{name}**: a PR adding it to `{HOLDS_FILE}` (no promotion while merged)"
        lines.append(box(ask, text, ticked=ask in keep_ticked))
    lines += ["", "## Open hold and rollback PRs", ""]
    lines += [f"- #{pr.number} {markdown(pr.title)}" for pr in proposals] or ["None."]
    lines += ["", "## Recent promotions and rollbacks", ""]
    if changes:
        lines += [
            "| When | Environment | Kind | PR | Image | Model | By |",
            "|---|---|---|---|---|---|---|",
            *(_change_row(c) for c in changes),
        ]
    else:
        lines.append("None on main yet.")
    lines += ["", "## Models awaiting evaluation", ""]
    lines += [
        f"- {markdown(name)} v{version} on {code(key)} ({markdown(', '.join(envs))}): "
        "the next run evaluates it"
        for name, version, key, envs in awaiting
    ] or ["None."]
    return "\n".join(lines) + "\n"


def section(body: str, title: str) -> list[str]:
    """The lines of `## title` in a body (the demo prints the environment table)."""
    lines, inside = [], False
    for line in body.splitlines():
        if line.startswith("## "):
            inside = line == f"## {title}"
            continue
        if inside and line.strip():
            lines.append(line)
    return lines


def recent(changes: Mapping[str, Sequence[Change]], limit: int = RECENT) -> list[Change]:
    """The newest promotions and rollbacks across environments."""
    moves = [c for env in changes.values() for c in env if c.kind in ("promotion", "rollback")]
    return sorted(moves, key=lambda c: (c.when, c.env), reverse=True)[:limit]


# ----------------------------------------------------------------------------- shell


def _act(services: Services, ask: Ask, issue: Issue) -> ProposalOutcome:
    if ask.verb == "hold":
        why = f"asked on the promotion dashboard (issue #{issue.number})"
        return holding.propose(services, ask.env, Hold(HoldScope.ALL, why, BY, None))
    return holding.propose(services, ask.env, None)


def _proposals(forge: Forge, base: str) -> list[PullRequest]:
    found = {**forge.open_prs(base, holding.HOLD_BRANCH_PREFIX)}
    found.update(forge.open_prs(base, ROLLBACK_BRANCH_PREFIX))
    return sorted(found.values(), key=lambda pr: pr.number)


def _own_issue(forge: Forge) -> tuple[Issue | None, list[str]]:
    """The dashboard issue the bot's own identity opened, and what to say about others: a
    labelled issue with the marker someone else opened is never adopted nor acted on."""
    me = forge.identity()
    issue = forge.find_open_issue(label=LABEL, marker=MARKER)
    if issue is None:
        return None, []
    if me is None:
        return issue, [
            f"author of issue #{issue.number} not checked: {forge.name} does not say who the bot is"
        ]
    if issue.author == me:
        return issue, []
    note = f"ignored issue #{issue.number} by {issue.author or 'unknown'}: not the bot's ({me})"
    return forge.find_open_issue(label=LABEL, marker=MARKER, author=me), [note]


def _awaiting(
    services: Services, ref: str, policy: PromotionPolicy
) -> list[tuple[str, int, str, tuple[str, ...]]]:
    """The models the run weighs (as `bot.world` discovers them) whose evaluation on their
    environments' pinned sets is not cached yet: read, never computed here."""
    state, _ = read_state(services.repo, ref, policy)
    pinned = [
        env.model.version
        for env in state.envs.values()
        if env.model is not None and env.model.name == policy.model_name
    ]
    selector = policy.first.model_selector
    alias = selector.alias if selector else None
    found = discover_manifests(services.store, policy.model_name, pinned, alias=alias)
    return awaiting_evaluation(services.store, policy, found)


def sync(settings: Settings, *, now: datetime) -> DashboardOutcome:
    """Act on the ticked boxes, then bring the issue up to date (under the run lock)."""
    with locked(settings, enabled=True) as ensure_held:
        services = connect(settings)
        forge = services.forge
        issue, notes = _own_issue(forge)
        base = settings.base_branch
        ref = f"refs/remotes/origin/{base}"
        policy = read_policy(services.repo, ref, settings.policy_file, settings.registry_host)
        envs = [env.name for env in policy.environments]
        acted: list[tuple[Ask, ProposalOutcome | str]] = []
        failed: list[Ask] = []
        for ask in ticked(issue.body, envs) if issue is not None else []:
            assert issue is not None  # noqa: S101 (the loop runs only with an issue)
            ensure_held()
            try:
                acted.append((ask, _act(services, ask, issue)))
            except BotError as exc:  # the box stays ticked: the next run asks again
                acted.append((ask, f"failed: {exc}"))
                failed.append(ask)
        statuses = api.status(settings, now=now)
        rows = [render.status_fields(row) for row in statuses]
        held = {row.env: row.hold is not None for row in statuses}
        changes = recent(read_changes(services.repo, ref, policy, is_bot=services.bot_author()))
        waiting = _awaiting(services, ref, policy)
        body = render_body(rows, held, _proposals(forge, base), changes, failed, awaiting=waiting)
        ensure_held()
        if issue is None:
            created = forge.create_issue(TITLE, body, [LABEL])
            return DashboardOutcome("create", created, body, acted, notes)
        if issue.body.replace("\r\n", "\n") == body:
            return DashboardOutcome("noop", issue, body, acted, notes)
        forge.update_issue(issue.number, body)
        return DashboardOutcome("update", issue, body, acted, notes)
