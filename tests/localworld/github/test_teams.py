"""Teams and team review requests, as GitHub answers them."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from github import Github, GithubException, UnknownObjectException
from github.PullRequest import PullRequest
from github.Repository import Repository
from ruamel.yaml import YAML

from localworld import world
from localworld.github import LocalGitHub
from localworld.github.errors import BadTeamSpecError
from localworld.github.teams import parse_team_spec
from tests.conftest import GITHUB_TEAMS
from tests.localworld.github.conftest import Checkout

PROMOTION_YAML = Path(__file__).parents[3] / "promotion.yaml"
NOT_COLLABORATOR = (
    "Reviews may only be requested from collaborators. One or more of the {who} you specified "
    "is not a collaborator of the {repo} repository."
)


def open_pull(checkout: Checkout, repo: Repository) -> PullRequest:
    checkout.start_branch("promote/staging")
    checkout.commit("promote/staging", {"s": "s\n"}, "promote staging")
    checkout.push("promote/staging")
    return repo.create_pull(base="main", head="promote/staging", title="promote staging")


@pytest.fixture
def teams(github: LocalGitHub, checkout: Checkout) -> str:
    """Teams of the checkout's organization: ml-reviewers (reviewer-1), sre (reviewer-2)."""
    org = checkout.full_name.split("/")[0]
    github.add_team(f"{org}/ml-reviewers", ["reviewer-1"])
    github.add_team(f"{org}/sre", ["reviewer-2", "localworld-bot"])
    return org


def test_a_seeded_team_is_found_by_slug(gh: Github):
    team = gh.get_organization("modelops").get_team_by_slug("ml-reviewers")
    assert (team.slug, team.name, team.members_count) == ("ml-reviewers", "ml-reviewers", 1)
    assert team.organization.login == "modelops"
    assert gh.get_organization("ModelOps").get_team_by_slug("SRE").slug == "sre"
    with pytest.raises(UnknownObjectException):
        _ = gh.get_organization("modelops").get_team_by_slug("nobody").slug
    with pytest.raises(UnknownObjectException):
        _ = gh.get_organization("elsewhere").get_team_by_slug("sre").slug


def test_an_organization_exists_when_it_owns_a_repository_or_a_team(gh: Github, checkout: Checkout):
    assert gh.get_organization("modelops").login == "modelops"  # seeded teams
    owner = checkout.full_name.split("/")[0]
    assert gh.get_organization(owner).id > 0  # a served repository
    for missing in ("nobody-here", ".."):
        with pytest.raises(UnknownObjectException):
            _ = gh.get_organization(missing).id


def test_reviews_are_requested_from_users_and_teams_in_one_request(
    checkout: Checkout, repo: Repository, teams: str
):
    pr = open_pull(checkout, repo)
    pr.create_review_request(reviewers=["reviewer-2"], team_reviewers=["ml-reviewers", "SRE"])
    pr.create_review_request(team_reviewers=["sre"])  # again: not requested twice
    fresh = repo.get_pull(pr.number)
    assert [u.login for u in fresh.requested_reviewers] == ["reviewer-2"]
    assert [t.slug for t in fresh.requested_teams] == ["ml-reviewers", "sre"]
    users, found = fresh.get_review_requests()
    assert [u.login for u in users] == ["reviewer-2"]
    assert [(t.slug, t.permission) for t in found] == [("ml-reviewers", "pull"), ("sre", "pull")]
    listed = next(p for p in repo.get_pulls() if p.number == pr.number)
    assert [t.slug for t in listed.requested_teams] == ["ml-reviewers", "sre"]
    fresh.delete_review_request(reviewers=[], team_reviewers=["ml-reviewers"])
    assert [t.slug for t in repo.get_pull(pr.number).requested_teams] == ["sre"]
    fresh.delete_review_request(reviewers=["reviewer-2"])
    users, found = repo.get_pull(pr.number).get_review_requests()
    assert (list(users), [t.slug for t in found]) == ([], ["sre"])


@pytest.mark.parametrize(
    ("reviewers", "team_reviewers", "message"),
    [
        ([], ["ghosts"], NOT_COLLABORATOR.format(who="teams", repo="{repo}")),
        (["stranger"], ["sre"], NOT_COLLABORATOR.format(who="users or teams", repo="{repo}")),
        (["stranger"], [], NOT_COLLABORATOR.format(who="users or teams", repo="{repo}")),
        (["localworld-bot"], ["sre"], "Review cannot be requested from pull request author."),
    ],
)
def test_review_requests_are_refused_as_github_refuses_them(
    checkout: Checkout,
    repo: Repository,
    teams: str,
    reviewers: list[str],
    team_reviewers: list[str],
    message: str,
):
    pr = open_pull(checkout, repo)
    with pytest.raises(GithubException) as err:
        pr.create_review_request(reviewers=reviewers, team_reviewers=team_reviewers)
    assert err.value.status == 422
    assert err.value.data["message"] == message.format(repo=checkout.full_name)
    assert "errors" not in err.value.data
    users, found = repo.get_pull(pr.number).get_review_requests()
    assert (list(users), list(found)) == ([], [])  # nothing half-written


def test_a_team_of_another_organization_is_not_a_collaborator(
    checkout: Checkout, repo: Repository, teams: str
):
    pr = open_pull(checkout, repo)
    with pytest.raises(GithubException) as err:
        pr.create_review_request(team_reviewers=["ml-reviewers", "modelops/sre"])
    assert err.value.data["message"] == NOT_COLLABORATOR.format(
        who="teams", repo=checkout.full_name
    )


def test_removing_review_requests_needs_the_reviewers_field(
    checkout: Checkout, repo: Repository, teams: str, github: LocalGitHub
):
    pr = open_pull(checkout, repo)
    pr.create_review_request(team_reviewers=["sre"])
    with pytest.raises(GithubException) as err:
        pr.delete_review_request(team_reviewers=["sre"])  # PyGithub leaves `reviewers` out
    assert (err.value.status, err.value.data["message"]) == (
        422,
        'Invalid request.\n\n"reviewers" wasn\'t supplied.',
    )
    url = f"{github.url}/repos/{checkout.full_name}/pulls/{pr.number}/requested_reviewers"
    refused = requests.post(
        url,
        json={"reviewers": "reviewer-1"},
        headers={"Authorization": f"token {github.token}"},
        timeout=10,
    )
    assert refused.status_code == 422
    assert refused.json()["message"].startswith("Invalid request.")


def test_team_specs_are_checked():
    assert parse_team_spec("modelops/sre:a,b-c") == ("modelops", "sre", ("a", "b-c"))
    assert parse_team_spec("modelops/ml-reviewers") == ("modelops", "ml-reviewers", ())
    for bad in ("sre", "modelops/sre/x", "modelops/sre:a b", "-x/sre", "modelops/sre:a,/b"):
        with pytest.raises(BadTeamSpecError):
            parse_team_spec(bad)


def test_the_local_worlds_teams_are_the_reviewer_teams_of_the_shipped_policy():
    policy = YAML(typ="safe").load(PROMOTION_YAML.read_text())
    named = {
        str(entry).rsplit("/", 1)[-1]
        for env in policy["environments"]
        for entry in env.get("reviewers") or []
    }
    assert named >= {"ml-reviewers", "sre"}
    for specs in (world.GITHUB_TEAMS, GITHUB_TEAMS):
        seeded = {(org, slug) for org, slug, _ in map(parse_team_spec, specs)}
        org = world.GITHUB_REPOSITORY.split("/")[0]
        assert {(org, slug) for slug in named} <= seeded
