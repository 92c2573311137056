"""The Azure Repos forge (`bot.forge.Forge`): Azure DevOps' REST API 7.1 over plain `requests`.

Why not the `azure-devops` package: its newest release (7.1.0b4, 2023) is a beta built on the
deprecated `msrest`, untyped, and brings its own retry and auth layers; the bot needs about
fifteen calls, and `requests` (already here, under PyGithub) with urllib3's `Retry` gives the
same bounded, `Retry-After`-honouring retries the GitHub adapter has (docs/decisions.md).

Mapping: a pull request's `active`/`abandoned`/`completed` is the forge's open/closed/merged;
labels are PR labels (tags); comments are threads; the release-blocked "issue" is a work item;
reviewers are identities; a commit status's context is its `name`.

One module a job, each a part of `AzureReposForge` (`forge`) over the shared session:
`transport` (HTTP, the bearer token, retries, errors), `pulls` (pull requests and compare),
`threads` (comments), `work_items` (issues), `statuses` (commit statuses).

Auth is a bearer token on every request (`System.AccessToken`, or an Entra token for Azure
DevOps from `azure-identity`), never a PAT and never in a URL; git over https gets the same
token as a header (`bot.adapters.azure_repos_auth`).
"""

from bot.adapters.azure_repos.forge import AzureReposForge
from bot.adapters.azure_repos.pulls import fit_description
from bot.adapters.azure_repos.transport import TokenSource, entra_token_source, identity_url

__all__ = [
    "AzureReposForge",
    "TokenSource",
    "entra_token_source",
    "fit_description",
    "identity_url",
]
