"""A local GitHub: the REST subset the promotion bot uses (through PyGithub), served on
127.0.0.1 over real bare Git repositories, checked against GitHub's OpenAPI description."""

from localworld.github.service import LocalGitHub, start_github

__all__ = ["LocalGitHub", "start_github"]
