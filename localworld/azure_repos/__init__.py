"""A local Azure Repos (Azure DevOps Git, work items, identities) for tests and the demo."""

from localworld.azure_repos.service import LocalAzureRepos, start_azure_repos

__all__ = ["LocalAzureRepos", "start_azure_repos"]
