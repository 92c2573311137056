"""Comments on Azure Repos pull requests: each comment is a thread (a new one active, one said
while closing a PR closed), and a PR is closed by abandoning it."""

from __future__ import annotations

from bot.adapters.azure_repos.transport import Transport
from bot.forge import Comment


class Threads(Transport):
    """The comment part of `AzureReposForge`."""

    def comment(self, number: int, body: str) -> None:
        """A new thread, active (it asks for attention)."""
        self._thread(number, body, "active")

    def _thread(self, number: int, body: str, status: str) -> None:
        url = self._repo_url(f"/pullRequests/{number}/threads")
        payload = {
            "comments": [{"parentCommentId": 0, "content": body, "commentType": "text"}],
            "status": status,
        }
        self._call(f"comment on !{number}", "POST", url, json=payload)

    def comments(self, number: int) -> list[Comment]:
        """The first comment of each thread a person or the bot wrote (system threads, such as
        Azure DevOps' own vote and push notes, are left out), oldest first."""
        url = self._repo_url(f"/pullRequests/{number}/threads")
        found: list[Comment] = []
        for thread in self._values(f"list threads of !{number}", "GET", url):
            first = next(iter(thread.get("comments") or []), None)
            if first is None or first.get("commentType") == "system" or first.get("isDeleted"):
                continue
            author = (first.get("author") or {}).get("uniqueName")
            found.append(Comment(int(thread["id"]), str(first.get("content") or ""), author))
        return found

    def close_pr(self, number: int, comment: str) -> None:
        """Comment (a closed thread: nothing left to resolve), then abandon."""
        self._thread(number, comment, "closed")
        url = self._repo_url(f"/pullrequests/{number}")
        self._call(f"abandon pull request !{number}", "PATCH", url, json={"status": "abandoned"})
