"""`promotion-bot`: a thin click layer over the bot's Python API.

Exit codes are decided in one place (`main`, through `cliexit`): domain error 1, usage or
configuration error 2 (bad flags, specs, settings, `promotion.yaml`), unexpected 3 (the hidden
`--traceback` flag shows the stack), Ctrl-C 130. Commands are click commands on the `cli`
group, so more (`run`, `status`, `release`) plug in with `@cli.command()`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from bot import api, render
from bot.adapters.git import drop_redirecting_git_env
from bot.core.policy import Hold, HoldScope
from bot.errors import BotError, PolicyError, SpecError
from bot.holds import check_by, clean_reason, parse_until
from bot.imagespec import parse_set_specs
from bot.kustomize import set_pins
from bot.lock import LockHeldError
from bot.overlay.render import DeployValidationError
from bot.overlay.validate import render_overlays, validate_overlays
from bot.policy import DEFAULT_POLICY_FILE, load_policy
from bot.proposal import ProposalOutcome
from bot.release import ReleaseAction, ReportOutcome
from bot.release_status import Posted
from bot.runner import now_utc, redact
from bot.settings import Settings, SettingsError
from bot.untrusted import terminal, terminal_lines
from cliexit import EXIT_ERROR, EXIT_USAGE, ErrorCodes, run_click


class ReleaseBlockedError(BotError):
    """Validation of main failed; no release ref was moved."""


class OverlaysInvalidError(BotError):
    """`validate` found problems in the overlays."""


# The bot's exceptions and their exit codes (first match wins); the rest is cliexit's.
ERROR_CODES: ErrorCodes = {
    SpecError: EXIT_USAGE,
    SettingsError: EXIT_USAGE,
    PolicyError: EXIT_USAGE,
    BotError: EXIT_ERROR,
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Promote images and model versions through GitOps overlays."""


@cli.command("set")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="SPEC",
    help="NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST or NAME=NEWNAME[:TAG][@DIGEST]",
)
@click.option(
    "--literal",
    "literals",
    multiple=True,
    metavar="GENERATOR:KEY=VALUE",
    help="a configMapGenerator literal, e.g. model-pin:MODEL_VERSION=4",
)
def set_command(file: Path, images: tuple[str, ...], literals: tuple[str, ...]) -> None:
    """Edit pins in a kustomization FILE in place, changing nothing else in it."""
    if not images and not literals:
        raise click.UsageError("give at least one --image or --literal")
    image_sets, literal_sets = parse_set_specs(images, literals)
    result = set_pins(file, images=image_sets, literals=literal_sets)
    if result.is_empty:
        click.echo(f"{file}: already pinned as asked, nothing changed")
    for line in result.lines():
        click.echo(line)


@cli.command("validate")
@click.argument("root", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--policy",
    "policy_file",
    default=DEFAULT_POLICY_FILE,
    show_default=True,
    help="the promotion policy naming the environments and their overlays (relative to ROOT)",
)
@click.option(
    "--render-to",
    type=click.Path(file_okay=False, path_type=Path),
    help="when valid, write each environment's rendered overlay to DIR/<env>.yaml",
)
def validate_command(root: Path, policy_file: str, render_to: Path | None) -> None:
    """Check every environment's overlay in the repository ROOT: pins, render, schemas, PSS."""
    policy = load_policy(root / policy_file)
    problems = validate_overlays(root, policy)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise OverlaysInvalidError(f"{len(problems)} problem(s) in the overlays of {root}")
    envs = ", ".join(env.name for env in policy.environments)
    click.echo(f"ok: every overlay in {root / policy_file} renders, validates and pins ({envs})")
    if render_to is not None:
        try:
            written = render_overlays(root, policy, render_to)
        except (DeployValidationError, OSError) as exc:
            raise OverlaysInvalidError(f"cannot write rendered manifests: {exc}") from None
        click.echo("rendered: " + " ".join(str(p) for p in written))


def _settings(overrides: dict[str, object]) -> Settings:
    drop_redirecting_git_env()
    return Settings.from_env(None, **overrides)


settings_options = [
    click.option("--remote", "gitops_remote", help="GitOps repo (git URL or path) [GITOPS_REMOTE]"),
    click.option("--forge", "forge", help="where the PRs live: github [BOT_FORGE]"),
    click.option(
        "--repository", "repository", help="owner/name [FORGE_REPOSITORY, GITHUB_REPOSITORY]"
    ),
    click.option(
        "--api-url",
        "forge_api_url",
        help="the forge's API base URL [FORGE_API_URL, GITHUB_API_URL]",
    ),
    click.option("--registry-host", "registry_host", help="registry host[:port] [REGISTRY_HOST]"),
    click.option(
        "--workdir",
        type=click.Path(file_okay=False, path_type=Path),
        help="where the bot keeps its clone [BOT_WORKDIR]",
    ),
]


def with_settings(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(settings_options):
        fn = option(fn)
    return fn


def _overrides(kwargs: dict[str, object]) -> dict[str, object]:
    keys = ("gitops_remote", "forge", "repository", "forge_api_url", "registry_host", "workdir")
    return {k: kwargs.pop(k) for k in keys if k in kwargs}


@cli.command("plan")
@with_settings
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON")
def plan_command(as_json: bool, **kwargs: object) -> None:
    """Show what would be promoted now, and why (reads only)."""
    settings = _settings(_overrides(kwargs))
    _, result = api.make_plan(api.connect(settings), now_utc())
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return
    for line in render.plan_lines(result):
        click.echo(line)


@cli.command("run")
@with_settings
@click.option("--dry-run", is_flag=True, help="print the plan and the exact diff; write nothing")
def run_command(dry_run: bool, **kwargs: object) -> None:
    """Discover, plan, and open/update/close promotion PRs (one branch per environment)."""
    settings = _settings(_overrides(kwargs))
    try:
        report = api.run(settings, now=now_utc(), dry_run=dry_run)
    except LockHeldError as exc:
        click.echo(str(exc))
        return
    secrets = settings.secrets()
    for outcome in report.outcomes:
        click.echo(redact(render.outcome_line(outcome, dry_run=dry_run), secrets))
        if dry_run and outcome.diff:
            click.echo(redact(terminal_lines(outcome.diff.rstrip("\n")), secrets))
    for written in report.freeze:
        click.echo(f"{written}: promotion/freeze status set on the PR head")
    if dry_run:
        click.echo("dry run: nothing written")
    elif not report.wrote:
        click.echo("nothing to write")


@cli.command("status")
@with_settings
@click.option("--json", "as_json", is_flag=True)
def status_command(as_json: bool, **kwargs: object) -> None:
    """Per environment: what is on main, what is released, pending PRs, what comes next."""
    settings = _settings(_overrides(kwargs))
    rows = api.status(settings, now=now_utc())
    if as_json:
        click.echo(json.dumps([render.status_fields(r) for r in rows], indent=2))
        return
    for row in rows:
        for line in render.status_lines(row):
            click.echo(line)


@cli.command("report")
@with_settings
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="the directory to write index.html to (created if missing)",
)
def report_command(out: Path, **kwargs: object) -> None:
    """Write a self-contained HTML report (matrix, timeline, metric charts) to OUT/index.html."""
    from bot.report import write_report

    settings = _settings(_overrides(kwargs))
    click.echo(f"report: {write_report(settings, now=now_utc(), out=out)}")


@cli.command("dashboard")
@with_settings
@click.option("--show", is_flag=True, help="print the issue's environment table too")
def dashboard_command(show: bool, **kwargs: object) -> None:
    """Keep the promotion dashboard issue: act on its ticked boxes (hold / promote now, by
    PR), then rewrite it if what it shows changed (a run with nothing new writes nothing)."""
    from bot import dashboard

    settings = _settings(_overrides(kwargs))
    try:
        outcome = dashboard.sync(settings, now=now_utc())
    except LockHeldError as exc:
        click.echo(str(exc))
        return
    for ask, result in outcome.acted:
        what = result if isinstance(result, str) else f"{result.action}: {result.reason}"
        pr = (
            f" (PR #{result.pr_number})"
            if isinstance(result, ProposalOutcome) and result.pr_number
            else ""
        )
        click.echo(terminal(f"asked {ask.verb} {ask.env}{pr}: {what}", limit=500))
    issue = outcome.issue
    where = f" issue #{issue.number} {issue.url}" if issue is not None else ""
    click.echo(terminal(f"dashboard: {outcome.action}{where}", limit=500))
    for note in outcome.notes:
        click.echo(terminal(f"dashboard: {note}", limit=500))
    if show:
        for line in dashboard.section(outcome.body, "Environments"):
            click.echo(terminal(line, limit=2000))


def _print_hold(outcome: ProposalOutcome, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcome.to_dict(), indent=2, sort_keys=True))
        return
    where = f" (PR #{outcome.pr_number} {outcome.url})" if outcome.pr_number else ""
    click.echo(terminal(f"{outcome.env}: {outcome.action}{where}: {outcome.reason}", limit=500))


@cli.command("hold")
@with_settings
@click.argument("env")
@click.option("--image", "scope", flag_value="image", help="hold image moves only")
@click.option("--model", "scope", flag_value="model", help="hold model moves only")
@click.option("--all", "scope", flag_value="all", default=True, help="hold every move (default)")
@click.option("--reason", required=True, help="why (shown in the PR, `status` and the plan)")
@click.option("--until", "until", help="ISO time with zone (2026-12-01T09:00Z) or duration (2d)")
@click.option("--by", "by", help="who holds it (default: $BUILD_REQUESTEDFOREMAIL or $USER)")
@click.option("--json", "as_json", is_flag=True)
def hold_command(env: str, **kwargs: object) -> None:
    """Hold ENV: open a PR recording it in deploy/holds.yaml (no promotion PR while merged)."""
    settings = _settings(_overrides(kwargs))
    until, by = kwargs["until"], kwargs["by"]
    who = str(by or os.environ.get("BUILD_REQUESTEDFOREMAIL") or os.environ.get("USER") or "")
    try:
        new = Hold(
            HoldScope(str(kwargs["scope"])),
            clean_reason(str(kwargs["reason"])),
            check_by(who),
            parse_until(str(until), now_utc()) if until else None,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _print_hold(api.hold(settings, env, new), bool(kwargs["as_json"]))


@cli.command("unhold")
@with_settings
@click.argument("env")
@click.option("--json", "as_json", is_flag=True)
def unhold_command(env: str, as_json: bool, **kwargs: object) -> None:
    """Lift ENV's hold: open a PR removing it from deploy/holds.yaml."""
    settings = _settings(_overrides(kwargs))
    _print_hold(api.hold(settings, env, None), as_json)


@cli.command("rollback")
@with_settings
@click.argument("env")
@click.option("--reason", required=True, help="why (in the commit message and the PR)")
@click.option(
    "--to", "to", help="a commit whose pins to restore (default: before the last promotion)"
)
@click.option(
    "--direct",
    is_flag=True,
    help="push the commit to main at once (only where promotion.yaml says rollback: "
    "{direct: true} for ENV; exit 2 otherwise)",
)
@click.option("--json", "as_json", is_flag=True)
def rollback_command(
    env: str, reason: str, to: str | None, direct: bool, as_json: bool, **kwargs: object
) -> None:
    """Roll ENV back: open a PR restoring its pins from before its last promotion (or at --to),
    or push it to main with --direct. Once on main, the pins rolled back from are not proposed
    again for ENV."""
    settings = _settings(_overrides(kwargs))
    try:
        why = clean_reason(reason)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _print_hold(api.rollback(settings, env, why, to, direct=direct), as_json)


@cli.command("release")
@with_settings
def release_command(**kwargs: object) -> None:
    """Validate merged main; fast-forward each environment's `release/<env>` (nightly).

    An environment moves only when not frozen now (its time zone), not held, and with what is
    new for it (its pins, and any change to the base or patches it renders) confirmed running
    in the previous environment for the soak; the others still move.

    A blocked release is reported as one `release-blocked` issue on GitHub (updated in place,
    closed by the next release); exit 1 when blocked, whether or not the report got through."""
    settings = _settings(_overrides(kwargs))
    now = now_utc()
    decision = api.release(settings, today=now.date(), now=now)
    click.echo(decision.reason)
    for problem in decision.problems:
        click.echo(f"  - {problem}")
    for env in decision.envs:
        tagged = f" (tagged {env.tag})" if env.tag else ""
        line = f"{env.env}: {env.action.value}: {env.reason}{tagged}"
        # two unmet soaks (pins, changes outside them) each end with their eligible time
        click.echo(terminal(line, limit=1000))
    for status in decision.statuses:
        failed = status.outcome in (Posted.FAILED, Posted.REFUSED)
        line = f"{'warning: ' if failed else ''}{status.env}: {status.message}"
        click.echo(terminal(line, limit=500), err=failed)
    report = decision.report
    if report is not None and report.action is ReportOutcome.FAILED:
        click.echo(f"warning: {report.message}", err=True)
    elif report is not None and report.action is not ReportOutcome.NONE:
        click.echo(report.message)
    if decision.action is ReleaseAction.BLOCKED:
        raise ReleaseBlockedError(f"release blocked: {len(decision.problems) or 1} problem(s)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code (`bot.__main__` runs it as the
    command, with what the imports made frozen)."""
    return run_click(cli, argv, prog_name="promotion-bot", codes=ERROR_CODES)
