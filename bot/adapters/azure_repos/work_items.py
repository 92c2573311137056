"""The release-blocked "issue" and the dashboard on Azure Repos: a work item of type `Issue`,
tagged with the label, found by WIQL; its Description is HTML (the bot writes its markdown as
`<pre>`; a person's edit in the web editor is read back as text).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bot.adapters.azure_repos.transport import Transport, creator
from bot.forge import Issue

DONE_STATE = "Done"  # the Basic process's Issue: To Do → Doing → Done
_PRE = re.compile(r"^<pre>(.*)</pre>$", re.DOTALL)
# What the web editor writes around lines and inline formatting (see `_markdown`).
_LINE_END = re.compile(r"<br\s*/?>|</(?:div|p|pre|li|h[1-6])\s*>", re.IGNORECASE)
_FORMATTING = re.compile(
    r"</?(?:div|p|pre|span|font|b|i|u|s|strong|em|ul|ol|li|h[1-6])(?:\s[^<>]*)?>", re.IGNORECASE
)


def _description(markdown: str) -> str:
    """A work item's Description is HTML: the markdown, escaped, as preformatted text."""
    return f"<pre>{html.escape(markdown, quote=False)}</pre>"


def _markdown(description: str) -> str:
    """The markdown back from a Description: the bot's `<pre>`, or what Azure Boards' rich-text
    editor saved when a person edited it (a tick): lines as `<div>`/`<p>`/`<br>`, inline
    formatting tags, entities and `&nbsp;`. Other markup is kept as text."""
    text = (description or "").replace("\r\n", "\n")
    found = _PRE.match(text)
    if found and "<" not in found.group(1):
        return html.unescape(found.group(1))
    text = _LINE_END.sub("\n", text)
    text = _FORMATTING.sub("", text)
    return html.unescape(text).replace("\xa0", " ")


class WorkItems(Transport):
    """The work-item ("issue") part of `AzureReposForge`."""

    wiql_team: str

    def _work_items_url(self, suffix: str = "") -> str:
        return f"{self.api_url}/{quote(self.project, safe='')}/_apis/wit/workitems{suffix}"

    def _issue_info(self, item: dict[str, Any]) -> Issue:
        fields = item.get("fields") or {}
        tags = [t.strip() for t in str(fields.get("System.Tags") or "").split(";") if t.strip()]
        web = f"{self.api_url}/{quote(self.project)}/_workitems/edit/{item['id']}"
        return Issue(
            number=int(item["id"]),
            title=str(fields.get("System.Title") or ""),
            body=_markdown(str(fields.get("System.Description") or "")),
            state="closed" if fields.get("System.State") == DONE_STATE else "open",
            labels=tuple(sorted(tags)),
            url=web,
            author=creator(fields.get("System.CreatedBy")),
        )

    def find_open_issue(
        self, *, label: str, marker: str = "", author: str | None = None
    ) -> Issue | None:
        """The oldest open work item of type Issue tagged `label` whose description holds
        `marker`: one WIQL query, then one read of the matches."""
        quoted = label.replace("'", "''")
        query = (  # WIQL, the label quoted as WIQL quotes ('')
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "  # noqa: S608
            f"AND [System.WorkItemType] = 'Issue' AND [System.Tags] CONTAINS '{quoted}' "
            f"AND [System.State] <> '{DONE_STATE}' ORDER BY [System.CreatedDate] ASC"
        )
        team = quote(self.wiql_team, safe="")
        url = f"{self.api_url}/{quote(self.project, safe='')}/{team}/_apis/wit/wiql"
        result = self._call(f"query work items tagged {label}", "POST", url, json={"query": query})
        ids = [int(ref["id"]) for ref in (result or {}).get("workItems") or []][:200]
        if not ids:
            return None
        items = self._values(
            "read work items",
            "GET",
            self._work_items_url(),
            params={"ids": ",".join(map(str, ids))},
        )
        by_id = {int(i["id"]): i for i in items}
        for number in ids:
            issue = self._issue_info(by_id[number]) if number in by_id else None
            mine = issue is not None and (author is None or issue.author == author)
            if issue is not None and mine and marker in issue.body:
                return issue
        return None

    def _fields(self, what: str, method: str, suffix: str, fields: dict[str, str]) -> Any:
        """Write `fields` of a work item (a JSON Patch of `add`s, as Azure Boards takes it)."""
        ops = [{"op": "add", "path": f"/fields/{k}", "value": v} for k, v in fields.items()]
        return self._call(
            what,
            method,
            self._work_items_url(suffix),
            json=ops,
            content_type="application/json-patch+json",
        )

    def create_issue(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        fields = {"System.Title": title, "System.Description": _description(body)}
        if labels:
            fields["System.Tags"] = "; ".join(labels)
        return self._issue_info(self._fields("create work item", "POST", "/$Issue", fields))

    def update_issue(self, number: int, body: str) -> None:
        fields = {"System.Description": _description(body)}
        self._fields(f"edit work item {number}", "PATCH", f"/{number}", fields)

    def close_issue(self, number: int, comment: str) -> None:
        """The why as a discussion entry (System.History) and the state Done, in one PATCH."""
        fields = {"System.History": _description(comment), "System.State": DONE_STATE}
        self._fields(f"close work item {number}", "PATCH", f"/{number}", fields)
