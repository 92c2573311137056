"""The shipped CODEOWNERS asks for the reviewers the shipped promotion.yaml requests."""

from __future__ import annotations

from pathlib import Path

from bot.policy import load_policy

ROOT = Path(__file__).resolve().parents[2]


def _owners() -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules[pattern] = owners
    return rules


def test_every_reviewed_overlay_is_owned_by_its_reviewers_and_automerged_ones_by_nobody():
    policy = load_policy(ROOT / "promotion.yaml")
    rules = _owners()
    for env in policy.environments:
        folder = "/" + env.overlay.rsplit("/", 1)[0] + "/"
        owners = [f"@{reviewer}" for reviewer in env.reviewers]
        if env.automerge:
            assert folder not in rules, f"{env.name} automerges: a code owner would block it"
        else:
            assert rules.get(folder) == owners, env.name
    assert "/promotion.yaml" in rules


def test_the_local_worlds_have_every_reviewer_the_shipped_policy_names():
    """The tests and the demo run the shipped policy: a reviewer they lack would be a 422."""
    from localworld import world
    from localworld.github.teams import parse_team_spec
    from tests.bot.gitops_world import GitOpsWorld
    from tests.conftest import GITHUB_REVIEWERS, GITHUB_TEAMS

    policy = load_policy(ROOT / "promotion.yaml")
    named = {reviewer for env in policy.environments for reviewer in env.reviewers}
    assert any(r.is_team for r in named)
    factory = GitOpsWorld.__dataclass_fields__["repo_name"].default_factory
    assert callable(factory)
    owner_of_test_repos = factory()
    for teams, users, repository in (
        (GITHUB_TEAMS, GITHUB_REVIEWERS, owner_of_test_repos),
        (world.GITHUB_TEAMS, world.GITHUB_REVIEWERS, world.GITHUB_REPOSITORY),
    ):
        seeded = {f"{org}/{slug}".lower() for org, slug, _ in map(parse_team_spec, teams)}
        for reviewer in named:
            if reviewer.is_team:
                assert reviewer.key in seeded, f"{reviewer}: no such team in the local world"
                assert reviewer.org == repository.split("/")[0], f"{reviewer} vs {repository}"
            else:
                assert reviewer.name in users, f"{reviewer}: no such user in the local world"
