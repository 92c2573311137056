"""Pull requests, their labels, reviewers and comment threads (the `git` specification)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request

from localworld.azure_repos import payloads
from localworld.azure_repos.state import (
    Identity,
    PullRequest,
    Reviewer,
    now_iso,
)
from localworld.azure_repos.web import (
    REPO,
    APIError,
    Repo,
    base,
    body_json,
    envelope,
    json_response,
    open_repo,
    route,
    state,
)
from localworld.github.git import Person

MERGE_STRATEGIES = {"noFastForward", "squash", "rebase", "rebaseMerge"}
MAX_DESCRIPTION = 4000  # Azure DevOps refuses a longer PR description
LISTED_DESCRIPTION = 400  # and cuts descriptions in PR listings (GET one PR for all of it)


def _description(value: Any) -> str:
    text = str(value or "")
    if len(text) > MAX_DESCRIPTION:
        raise APIError(
            400,
            "Invalid argument value.\r\nParameter name: A description for a pull request must "
            f"not be longer than {MAX_DESCRIPTION} characters.",
            "InvalidArgumentValueException",
        )
    return text


# ---------------------------------------------------------------------------- pull requests


def _pr(repo: Repo, number: int) -> PullRequest:
    pr = state().pulls.get(number)
    if pr is None or pr.repo_key != repo.key:
        raise APIError(
            404,
            "TF401180: The requested pull request was not found.",
            "GitPullRequestNotFoundException",
        )
    return pr


def _pr_json(repo: Repo, pr: PullRequest) -> dict[str, Any]:
    if pr.status == "active":
        source, target = repo.git.ref_sha(pr.source_ref), repo.git.ref_sha(pr.target_ref)
        if pr.queued_source is None and pr.merge_status != "failure":
            clean = not (source and target) or repo.git.merge_tree(target, source)[0] is not None
            pr.merge_status = "succeeded" if clean else "conflicts"
    else:
        source, target = pr.source_commit, pr.target_commit
    return payloads.pull_request(base(repo.org), pr, source, target)


def _identity_for(value: Any) -> Identity:
    """A request's `{"id": ...}` identity (the caller's own when it names no other)."""
    wanted = value.get("id") if isinstance(value, dict) else None
    found = state().identities.get(str(wanted)) if wanted else None
    if found is None:
        raise APIError(
            400, f"The identity {wanted} could not be found.", "IdentityNotFoundException"
        )
    return found


@route("git", "POST", f"{REPO}/pullrequests", "Pull Requests_Create")
def create_pull(org: str, project: str, repo: str) -> Response:
    r = open_repo(org, project, repo)
    data = body_json()
    source, target = str(data.get("sourceRefName") or ""), str(data.get("targetRefName") or "")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise APIError(
            400, "The title of the pull request cannot be empty.", "InvalidArgumentValueException"
        )
    for ref in (source, target):
        if not ref.startswith("refs/heads/") or r.git.ref_sha(ref) is None:
            raise APIError(
                404,
                f"TF401398: The pull request cannot be activated because the "
                f"source and/or the target branch no longer exists, or the requested "
                f"refs are not branches ({ref or 'none'}).",
                "GitPullRequestRefNotFoundException",
            )
    if source == target:
        raise APIError(
            400,
            "TF401402: The source and target branches of a pull request must differ.",
            "InvalidArgumentValueException",
        )
    st = state()
    with st.lock:
        for other in st.pulls.values():
            if (other.repo_key, other.source_ref, other.target_ref, other.status) == (
                r.key,
                source,
                target,
                "active",
            ):
                raise APIError(
                    409,
                    "TF401179: An active pull request for the source and target "
                    "branch already exists.",
                    "GitPullRequestExistsException",
                )
        pr = PullRequest(
            id=st.take_id("pull"),
            repo_key=r.key,
            title=title,
            description=_description(data.get("description")),
            source_ref=source,
            target_ref=target,
            created_by=g.identity,
            creation_date=now_iso(),
            is_draft=bool(data.get("isDraft", False)),
        )
        for entry in data.get("labels") or []:
            _add_label(pr, str(entry.get("name", "")))
        for entry in data.get("reviewers") or []:
            _add_reviewer(pr, _identity_for(entry), bool(entry.get("isRequired", False)))
        st.pulls[pr.id] = pr
    return json_response(_pr_json(r, pr))


@route("git", "GET", f"{REPO}/pullrequests", "Pull Requests_Get Pull Requests")
def list_pulls(org: str, project: str, repo: str) -> Response:
    r = open_repo(org, project, repo)
    args = request.args
    status = args.get("searchCriteria.status", "active")
    source = args.get("searchCriteria.sourceRefName")
    target = args.get("searchCriteria.targetRefName")
    skip, top = int(args.get("$skip", 0)), int(args.get("$top", 101))
    with state().lock:
        found = [
            pr
            for pr in sorted(state().pulls.values(), key=lambda p: -p.id)  # newest first
            if pr.repo_key == r.key
            and status in ("all", pr.status)
            and (source is None or pr.source_ref == source)
            and (target is None or pr.target_ref == target)
        ]
    listed = []
    for pr in found[skip : skip + top]:
        body = _pr_json(r, pr)
        body["description"] = body["description"][:LISTED_DESCRIPTION]
        listed.append(body)
    return envelope(listed)


@route("git", "GET", f"{REPO}/pullrequests/<int:number>", "Pull Requests_Get Pull Request")
def get_pull(org: str, project: str, repo: str, number: int) -> Response:
    r = open_repo(org, project, repo)
    with state().lock:
        pr = _pr(r, number)
        if pr.queued_source is not None and pr.status == "active":  # the queued job runs
            expected, pr.queued_source = pr.queued_source, None
            try:
                _complete(r, pr, expected)
            except APIError:  # a conflict, or the source moved meanwhile: not completed
                pr.merge_status = "conflicts" if pr.merge_status == "conflicts" else "failure"
    return json_response(_pr_json(r, pr))


@route("git", "PATCH", f"{REPO}/pullrequests/<int:number>", "Pull Requests_Update")
def update_pull(org: str, project: str, repo: str, number: int) -> Response:
    r = open_repo(org, project, repo)
    data = body_json()
    st = state()
    with st.lock:
        pr = _pr(r, number)
        if (pr.status != "active" and set(data) - {"status"}) or (
            pr.status == "completed" and "status" in data
        ):
            raise APIError(
                409,
                "TF401181: The pull request cannot be edited due to its state.",
                "InvalidPullRequestException",
            )
        if "title" in data:
            pr.title = str(data["title"])
        if "description" in data:
            pr.description = _description(data["description"])
        if "completionOptions" in data:
            pr.completion_options = _completion_options(data["completionOptions"])
        if "autoCompleteSetBy" in data:
            who = data["autoCompleteSetBy"]
            pr.auto_complete_by = _identity_for(who) if who and who.get("id") else None
        status = data.get("status")
        if status == "abandoned":
            _close(r, pr, "abandoned")
        elif status == "active" and pr.status == "abandoned":
            pr.status, pr.closed_date, pr.closed_by = "active", None, None
        elif status == "completed":
            expected = (data.get("lastMergeSourceCommit") or {}).get("commitId")
            if state().take_fault("PATCH", request.path, {"queued"}) is not None:
                _queue(r, pr, expected)
            else:
                _complete(r, pr, expected)
        elif pr.auto_complete_by is not None and pr.status == "active":
            # No branch policy is configured here: auto-complete completes at once, as Azure
            # Repos does when nothing is pending.
            _complete(r, pr, None)
    return json_response(_pr_json(r, pr))


def _completion_options(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise APIError(400, "completionOptions must be an object.", "InvalidArgumentValueException")
    strategy = value.get("mergeStrategy", "noFastForward")
    if strategy not in MERGE_STRATEGIES:
        raise APIError(400, f"Unknown merge strategy {strategy}.", "InvalidArgumentValueException")
    return dict(value)


def _close(r: Repo, pr: PullRequest, status: str) -> None:
    pr.source_commit = r.git.ref_sha(pr.source_ref) or pr.source_commit
    pr.target_commit = r.git.ref_sha(pr.target_ref) or pr.target_commit
    pr.status, pr.closed_date, pr.closed_by = status, now_iso(), g.identity


def _queue(r: Repo, pr: PullRequest, expected: str | None) -> None:
    """Accept the completion and queue it (checked now, done later), as Azure DevOps does."""
    source = r.git.ref_sha(pr.source_ref)
    if expected is None or expected != source:
        raise APIError(
            409,
            "TF401192: The pull request's source branch was updated since lastMergeSourceCommit.",
            "GitPullRequestStaleException",
        )
    pr.queued_source, pr.completion_queue_time, pr.merge_status = expected, now_iso(), "queued"


def _complete(r: Repo, pr: PullRequest, expected: str | None) -> None:
    source = r.git.ref_sha(pr.source_ref)
    if state().take_fault("PATCH", request.path, {"head_moved"}) is not None and source:
        info = r.git.commit(source)
        who = Person("localworld", "localworld@example.invalid", now_iso())
        moved = r.git.commit_tree(
            info.tree, [source], "concurrent push (localworld fault)", who, who
        )
        r.git.update_ref(pr.source_ref, moved, source)
        source = moved
    if source is None:
        raise APIError(
            409,
            "TF401398: The source branch no longer exists.",
            "GitPullRequestRefNotFoundException",
        )
    if expected is None and pr.auto_complete_by is None:
        raise APIError(
            400,
            "lastMergeSourceCommit is required to complete a pull request.",
            "InvalidArgumentValueException",
        )
    if expected is not None and expected != source:
        raise APIError(
            409,
            f"TF401192: The pull request's source branch was updated: "
            f"lastMergeSourceCommit {expected[:12]} is not its head {source[:12]}.",
            "GitPullRequestStaleException",
        )
    target = r.git.ref_sha(pr.target_ref)
    if target is None:
        raise APIError(
            409,
            "TF401398: The target branch no longer exists.",
            "GitPullRequestRefNotFoundException",
        )
    options = pr.completion_options or {}
    strategy = options.get("mergeStrategy", "noFastForward")
    who = Person(g.identity.display_name, f"{g.identity.unique_name}@localworld.invalid", now_iso())
    message = options.get("mergeCommitMessage") or f"Merged PR {pr.id}: {pr.title}"
    merged = _merge(r, target, source, strategy=strategy, message=message, who=who)
    if merged is None:
        pr.merge_status = "conflicts"
        raise APIError(
            409,
            "TF401182: The pull request cannot be completed: it has conflicts.",
            "GitPullRequestMergeConflictException",
        )
    if not r.git.update_ref(pr.target_ref, merged, target):
        raise APIError(
            409,
            "TF401028: The reference has already been updated by another client.",
            "GitReferenceStaleException",
        )
    if options.get("deleteSourceBranch"):
        r.git.delete_ref(pr.source_ref, source)
    pr.merge_commit, pr.merge_status = merged, "succeeded"
    pr.source_commit, pr.target_commit = source, target
    pr.status, pr.closed_date, pr.closed_by = "completed", now_iso(), g.identity


def _merge(
    r: Repo, target: str, source: str, *, strategy: str, message: str, who: Person
) -> str | None:
    if strategy in ("rebase", "rebaseMerge"):
        rebased = r.git.rebase(target, r.git.rev_list(source, target), who)
        if rebased is None or strategy == "rebase":
            return rebased
        tree = r.git.commit(rebased).tree
        return r.git.commit_tree(tree, [target, rebased], message, who, who)
    merged_tree, _conflicts = r.git.merge_tree(target, source)
    if merged_tree is None:
        return None
    parents = [target] if strategy == "squash" else [target, source]
    return r.git.commit_tree(merged_tree, parents, message, who, who)


# ---------------------------------------------------------------------------- labels


def _add_label(pr: PullRequest, name: str) -> str:
    name = name.strip()
    if not name or len(name) > 400 or any(c in name for c in ",;"):
        raise APIError(400, f"Invalid label name {name!r}.", "InvalidTagNameException")
    for existing in pr.labels:
        if existing.lower() == name.lower():
            return existing
    pr.labels.append(name)
    return name


@route(
    "git",
    "POST",
    f"{REPO}/pullRequests/<int:number>/labels",
    "Pull Request Labels_Create",
)
def create_label(org: str, project: str, repo: str, number: int) -> Response:
    r = open_repo(org, project, repo)
    data = body_json()
    with state().lock:
        name = _add_label(_pr(r, number), str(data.get("name") or ""))
    return json_response(payloads.label(base(org), name))


@route(
    "git",
    "GET",
    f"{REPO}/pullRequests/<int:number>/labels",
    "Pull Request Labels_List",
)
def list_labels(org: str, project: str, repo: str, number: int) -> Response:
    r = open_repo(org, project, repo)
    return envelope([payloads.label(base(org), n) for n in _pr(r, number).labels])


# ---------------------------------------------------------------------------- reviewers


def _add_reviewer(pr: PullRequest, identity: Identity, required: bool) -> Reviewer:
    if identity.id == pr.created_by.id:
        raise APIError(
            400,
            "The pull request's author cannot be added as a reviewer here.",
            "InvalidArgumentValueException",
        )
    for existing in pr.reviewers:
        if existing.identity.id == identity.id:
            existing.is_required = existing.is_required or required
            return existing
    entry = Reviewer(identity, required)
    pr.reviewers.append(entry)
    return entry


@route(
    "git",
    "POST",
    f"{REPO}/pullRequests/<int:number>/reviewers",
    "Pull Request Reviewers_Create Pull Request Reviewers",
)
def add_reviewers(org: str, project: str, repo: str, number: int) -> Response:
    """Identities (`IdentityRef`: no vote, no `isRequired`), added as optional reviewers."""
    r = open_repo(org, project, repo)
    data = body_json()
    if not isinstance(data, list) or not data:
        raise APIError(400, "Reviewers must be a non-empty list.", "InvalidArgumentValueException")
    with state().lock:
        pr = _pr(r, number)
        wanted = [_identity_for(e) for e in data]
        added = [_add_reviewer(pr, identity, False) for identity in wanted]
    return envelope([payloads.reviewer(base(org), e) for e in added])


@route(
    "git",
    "PUT",
    f"{REPO}/pullRequests/<int:number>/reviewers/<reviewer>",
    "Pull Request Reviewers_Create Pull Request Reviewer",
)
def put_reviewer(org: str, project: str, repo: str, number: int, reviewer: str) -> Response:
    """One reviewer, with `isRequired` (and a vote, which only the reviewer may cast)."""
    r = open_repo(org, project, repo)
    data = body_json()
    if not isinstance(data, dict):
        raise APIError(400, "A reviewer object is required.", "InvalidArgumentValueException")
    with state().lock:
        pr = _pr(r, number)
        identity = _identity_for({"id": reviewer})
        if int(data.get("vote") or 0) != 0 and identity.id != g.identity.id:
            raise APIError(
                400, "Only the reviewer can cast their vote.", "InvalidArgumentValueException"
            )
        entry = _add_reviewer(pr, identity, bool(data.get("isRequired", False)))
    return json_response(payloads.reviewer(base(org), entry))


@route("git", "GET", f"{REPO}/pullRequests/<int:number>/reviewers", "Pull Request Reviewers_List")
def list_reviewers(org: str, project: str, repo: str, number: int) -> Response:
    r = open_repo(org, project, repo)
    return envelope([payloads.reviewer(base(org), e) for e in _pr(r, number).reviewers])
