"""`AzureReposForge`: the `bot.forge.Forge` of one Azure Repos repository, made of its parts
(pull requests, comment threads, work items, commit statuses) over one `Transport`."""

from __future__ import annotations

from typing import Any

from bot.adapters.azure_repos.pulls import PullRequests
from bot.adapters.azure_repos.statuses import CommitStatuses
from bot.adapters.azure_repos.threads import Threads
from bot.adapters.azure_repos.transport import TokenSource, identity_url
from bot.adapters.azure_repos.work_items import WorkItems


class AzureReposForge(PullRequests, Threads, WorkItems, CommitStatuses):
    """One repository `project/name` of the organization at `api_url`
    (`https://dev.azure.com/<org>`, the pipeline's `System.CollectionUri`)."""

    name = "Azure Repos"

    def __init__(
        self,
        api_url: str,
        token: str | TokenSource,
        repository: str,
        *,
        retries: int = 5,
        backoff_factor: float = 0.5,
        timeout: float = 15.0,
        identity_api_url: str | None = None,
        reviewers_required: bool = True,
        wiql_team: str | None = None,
        bot_identity: str | None = None,
        completion_wait: float = 60.0,
        completion_poll: float = 2.0,
    ) -> None:
        super().__init__(
            api_url,
            token,
            repository,
            retries=retries,
            backoff_factor=backoff_factor,
            timeout=timeout,
        )
        self.identity_api_url = (identity_api_url or identity_url(self.api_url)).rstrip("/")
        self.reviewers_required = reviewers_required
        self.wiql_team = wiql_team or f"{self.project} Team"  # a new project's default team
        self.bot_identity = bot_identity
        self.completion_wait, self.completion_poll = completion_wait, completion_poll
        self._identities: dict[str, dict[str, Any]] = {}

    def identity(self) -> str | None:
        """The unique name the bot's writes carry (`System.CreatedBy`), as the operator tells
        it (`AZURE_REPOS_BOT_IDENTITY`; the job's token acts as the project's build service).
        Not learnt from the service: Azure DevOps names the caller only in
        `_apis/connectionData`, outside the published REST descriptions the local Azure Repos
        is held to. None when not told: the dashboard then says the author is not checked."""
        return self.bot_identity

    def is_own_account(self, email: str) -> bool:
        """A completion names whoever completes the PR (its email, which is a user's unique
        name): the bot only when it completes the PR itself, and only when told who it is."""
        me = self.bot_identity
        return me is not None and email.casefold() == me.casefold()
