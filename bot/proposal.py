"""Commands that propose a change to one file by pull request (`hold`, `unhold`, `rollback`):
the branch and PR they keep (`propose_file`) and what they did (`ProposalOutcome`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from bot.adapters.git import GitRepo
from bot.core.policy import Reviewer
from bot.forge import Forge, ForgeError, ForgeUnreachableError, PullRequest


class ProposalAction(StrEnum):
    """What the command did (the value is what the CLI and `--json` print)."""

    NOOP = "noop"  # already proposed as is, or main already agrees
    PUSH_CREATE = "push+create"  # pushed the branch, opened the PR
    PUSH_UPDATE = "push+update"  # rebuilt the branch, updated the PR
    CLOSE = "close"  # closed a proposal main already agrees with
    PUSH = "push"  # `rollback --direct`: committed to main, no PR

    @property
    def wrote(self) -> bool:
        return self is not ProposalAction.NOOP


@dataclass(frozen=True)
class ProposalOutcome:
    """`action`: what was done; `reason`: one line for the operator; the PR, when there is
    one."""

    env: str
    action: ProposalAction
    reason: str
    pr_number: int | None = None
    url: str | None = None

    @property
    def wrote(self) -> bool:
        return self.action.wrote

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "action": self.action.value}


@dataclass(frozen=True)
class FileProposal:
    """One commit on `base` at `main_sha` writing `text` to `path`, proposed from `branch`."""

    env: str
    base: str
    main_sha: str | None
    branch: str
    path: str
    text: str
    title: str
    body: str
    message: str
    label: str
    reviewers: tuple[Reviewer, ...] = ()


def propose_file(
    repo: GitRepo, forge: Forge, wanted: FileProposal, pr: PullRequest | None
) -> ProposalOutcome:
    """Bring the branch and its open PR (`pr`, if any) to `wanted`: nothing when the PR
    already proposes exactly it; else the branch rebuilt from `base` (pushed with a lease) and
    the PR updated, or opened with its label and then its reviewers (a refused request is
    said in the outcome, not fatal: the PR exists)."""
    env, branch, title = wanted.env, wanted.branch, wanted.title
    sha = repo.remote_sha(branch)
    if (
        pr is not None
        and sha is not None
        and repo.parent_sha(sha) == wanted.main_sha
        and pr.title == title
        and repo.show_each([(sha, wanted.path)])[(sha, wanted.path)] == wanted.text
    ):
        already = f"#{pr.number} already proposes this"
        return ProposalOutcome(env, ProposalAction.NOOP, already, pr.number, pr.url)
    repo.checkout_fresh(branch, wanted.base)
    path = repo.path / wanted.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(wanted.text, encoding="utf-8")
    repo.push_with_lease(repo.commit([path], wanted.message), branch, sha)
    if pr is not None:
        forge.update_pr(pr.number, title=title, body=wanted.body)
        return ProposalOutcome(env, ProposalAction.PUSH_UPDATE, title, pr.number, pr.url)
    created = forge.create_pr(
        title=title, body=wanted.body, head=branch, base=wanted.base, labels=[wanted.label]
    )
    reason = title
    if wanted.reviewers:
        try:
            forge.request_reviews(created.number, wanted.reviewers)
        except ForgeUnreachableError:
            raise
        except ForgeError as exc:
            reason += f"; reviewers not requested: {exc}"
    return ProposalOutcome(env, ProposalAction.PUSH_CREATE, reason, created.number, created.url)
