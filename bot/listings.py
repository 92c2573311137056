"""A forge that lists each commit's statuses once per run, for runs that only read.

`promotion-bot status` asks several questions of the same release commits: what each cluster
confirmed running, and, through the nightly's gate, what the previous environment confirmed
of the pins and of the changes outside them (`bot.api.status`). The nightly lists a commit
once per question too, but it writes statuses between them (`promotion/release/<env>`), so
only a run that writes nothing may keep an answer: status does, for its one run.
"""

from __future__ import annotations

from typing import Any, cast

from bot.forge import CommitStatus, Forge


class ListedOnce:
    """`forge`, but `list_statuses` of a ref already listed in this run answers from then."""

    def __init__(self, forge: Forge) -> None:
        self._forge = forge
        self._listed: dict[str, list[CommitStatus]] = {}

    def list_statuses(self, ref: str) -> list[CommitStatus]:
        if ref not in self._listed:
            self._listed[ref] = self._forge.list_statuses(ref)  # an error is not kept
        return list(self._listed[ref])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._forge, name)


def listed_once(forge: Forge) -> Forge:
    """`forge` for a run that writes nothing, listing each commit's statuses once."""
    return cast(Forge, ListedOnce(forge))
