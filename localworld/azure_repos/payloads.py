"""The JSON shapes the local Azure Repos answers with: only fields Microsoft's REST specifications
name (the contract test holds every response to them, strictly)."""

from __future__ import annotations

from typing import Any

from localworld.azure_repos.state import (
    Identity,
    PullRequest,
    Reviewer,
    Status,
    Thread,
    WorkItem,
    stable_guid,
)


def error(message: str, type_key: str, status: int = 400) -> dict[str, Any]:
    """Azure DevOps' error body (`WrappedException`): not in the specifications, which document
    only successes; `typeKey` names the server's exception type, as Azure DevOps does."""
    return {
        "$id": "1",
        "innerException": None,
        "message": message,
        "typeName": f"Microsoft.TeamFoundation.{type_key}, Microsoft.TeamFoundation",
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": 3000 if status < 500 else 0,
    }


def identity_ref(base: str, identity: Identity) -> dict[str, Any]:
    return {
        "displayName": identity.display_name,
        "url": f"{base}/_apis/Identities/{identity.id}",
        "id": identity.id,
        "uniqueName": identity.unique_name,
        "isContainer": identity.is_container,
    }


def reviewer(base: str, entry: Reviewer) -> dict[str, Any]:
    return {
        **identity_ref(base, entry.identity),
        "vote": entry.vote,
        "isRequired": entry.is_required,
        "hasDeclined": False,
        "isFlagged": False,
        "reviewerUrl": f"{base}/_apis/Identities/{entry.identity.id}",
    }


def identity(identity: Identity) -> dict[str, Any]:
    """The Identities API's `Identity`."""
    return {
        "id": identity.id,
        "providerDisplayName": identity.display_name,
        "isActive": True,
        "isContainer": identity.is_container,
        "subjectDescriptor": ("vssgp." if identity.is_container else "aad.") + identity.id,
        "resourceVersion": 2,
        "metaTypeId": 255 if identity.is_container else 0,
        "memberIds": [],
    }


def project_ref(base: str, org: str, project: str) -> dict[str, Any]:
    pid = stable_guid("project", org.lower(), project.lower())
    return {
        "id": pid,
        "name": project,
        "url": f"{base}/_apis/projects/{pid}",
        "state": "wellFormed",
        "visibility": "private",
    }


def repository(base: str, org: str, project: str, repo: str) -> dict[str, Any]:
    rid = stable_guid("repo", org.lower(), project.lower(), repo.lower())
    return {
        "id": rid,
        "name": repo,
        "url": f"{base}/{project}/_apis/git/repositories/{rid}",
        "project": project_ref(base, org, project),
        "remoteUrl": f"{base}/{project}/_git/{repo}",
    }


def commit_ref(repo_url: str, sha: str) -> dict[str, Any]:
    return {"commitId": sha, "url": f"{repo_url}/commits/{sha}"}


def pull_request(
    base: str, pr: PullRequest, source: str | None, target: str | None
) -> dict[str, Any]:
    org, project, repo = pr.repo_key
    repo_json = repository(base, org, project, repo)
    body: dict[str, Any] = {
        "repository": repo_json,
        "pullRequestId": pr.id,
        "codeReviewId": pr.id,
        "status": pr.status,
        "createdBy": identity_ref(base, pr.created_by),
        "creationDate": pr.creation_date,
        "title": pr.title,
        "description": pr.description,
        "sourceRefName": pr.source_ref,
        "targetRefName": pr.target_ref,
        "mergeStatus": pr.merge_status or "succeeded",
        "isDraft": pr.is_draft,
        "mergeId": stable_guid("merge", str(pr.id)),
        "reviewers": [reviewer(base, r) for r in pr.reviewers],
        "labels": [label(base, name) for name in pr.labels],
        "url": f"{repo_json['url']}/pullRequests/{pr.id}",
        "supportsIterations": True,
        "artifactId": (
            f"vstfs:///Git/PullRequestId/{repo_json['project']['id']}%2f{repo_json['id']}%2f{pr.id}"
        ),
    }
    if source:
        body["lastMergeSourceCommit"] = commit_ref(repo_json["url"], source)
    if target:
        body["lastMergeTargetCommit"] = commit_ref(repo_json["url"], target)
    if pr.merge_commit:
        body["lastMergeCommit"] = commit_ref(repo_json["url"], pr.merge_commit)
    if pr.closed_date:
        body["closedDate"] = pr.closed_date
    if pr.closed_by:
        body["closedBy"] = identity_ref(base, pr.closed_by)
    if pr.auto_complete_by:
        body["autoCompleteSetBy"] = identity_ref(base, pr.auto_complete_by)
    if pr.completion_options is not None:
        body["completionOptions"] = pr.completion_options
    if pr.completion_queue_time is not None:
        body["completionQueueTime"] = pr.completion_queue_time
    return body


def label(base: str, name: str) -> dict[str, Any]:
    lid = stable_guid("label", name.lower())
    return {"id": lid, "name": name, "active": True, "url": f"{base}/_apis/tags/{lid}"}


def thread(base: str, entry: Thread) -> dict[str, Any]:
    return {
        "id": entry.id,
        "publishedDate": entry.published,
        "lastUpdatedDate": entry.published,
        "status": entry.status,
        "isDeleted": False,
        "comments": [
            {
                "id": c.id,
                "parentCommentId": 0,
                "author": identity_ref(base, c.author),
                "content": c.content,
                "publishedDate": c.published,
                "lastUpdatedDate": c.published,
                "lastContentUpdatedDate": c.published,
                "commentType": c.comment_type,
                "isDeleted": False,
                "usersLiked": [],
            }
            for c in entry.comments
        ],
    }


def status(base: str, entry: Status) -> dict[str, Any]:
    context: dict[str, str] = {"name": entry.context_name}
    if entry.context_genre is not None:
        context["genre"] = entry.context_genre
    body: dict[str, Any] = {
        "id": entry.id,
        "state": entry.state,
        "description": entry.description,
        "context": context,
        "creationDate": entry.creation_date,
        "updatedDate": entry.creation_date,
        "createdBy": identity_ref(base, entry.created_by),
    }
    if entry.target_url:
        body["targetUrl"] = entry.target_url
    return body


def git_commit(repo_url: str, sha: str, message: str, author: dict[str, str]) -> dict[str, Any]:
    subject = message.splitlines()[0] if message else ""
    return {
        "commitId": sha,
        "author": author,
        "committer": author,
        "comment": subject,
        "commentTruncated": subject != message.rstrip("\n"),
        "url": f"{repo_url}/commits/{sha}",
    }


def work_item(base: str, item: WorkItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "rev": item.rev,
        "fields": dict(item.fields),
        "url": f"{base}/{item.project}/_apis/wit/workItems/{item.id}",
    }
