"""The local GitHub as part of `localworld up` and as `python -m localworld.github`."""

from __future__ import annotations

from pathlib import Path

from github import Auth, Github

from localworld.github.cli import main
from localworld.world import start_world
from tests.conftest import git


def test_start_world_serves_the_gitops_repository_with_its_token(tmp_path: Path):
    world = start_world(tmp_path / "lw")
    try:
        env = world.env
        assert env["GITHUB_API_URL"].startswith("http://127.0.0.1:")
        assert env["GITHUB_REPOSITORY"] == "modelops/gitops"
        work = tmp_path / "work"
        git(tmp_path, "clone", "-q", env["GITHUB_REMOTE"], str(work))
        (work / "README.md").write_text("gitops\n")
        git(work, "add", "README.md")
        git(work, "commit", "-q", "-m", "first")
        git(work, "push", "-q", "origin", "main")
        gh = Github(
            base_url=env["GITHUB_API_URL"], auth=Auth.Token(env["GITHUB_TOKEN"]), retry=None
        )
        repo = gh.get_repo(env["GITHUB_REPOSITORY"])
        assert repo.get_branch("main").commit.sha == git(work, "rev-parse", "HEAD").strip()
        assert gh.get_user().login == "promotion-bot"
        org = gh.get_organization("modelops")
        assert [org.get_team_by_slug(s).members_count for s in ("ml-reviewers", "sre")] == [1, 1]
        assert not any(env["GITHUB_TOKEN"] in arg for p in world.processes for arg in p.argv)
    finally:
        world.stop()


def test_cli_rejects_bad_token_specs_and_repo_names(tmp_path: Path, capsys):
    assert main(["--root", str(tmp_path), "--port", "1", "--token", "no-repos"]) == 1
    assert "bad token spec" in capsys.readouterr().err
    assert main(["--root", str(tmp_path), "--port", "1", "--token", "t:o/r", "--repo", "x"]) == 2
    assert main(["--root", str(tmp_path)]) == 2
    assert main(["--root", str(tmp_path), "--port", "1", "--token", "t:o/r", "--team", "sre"]) == 1
    assert "bad team spec 'sre'" in capsys.readouterr().err
