"""Identities (the `ims` specification) and work items with WIQL (the `wit` specification)."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, request

from localworld.azure_repos import payloads
from localworld.azure_repos.state import (
    WorkItem,
    now_iso,
)
from localworld.azure_repos.web import (
    APIError,
    base,
    body_json,
    envelope,
    json_response,
    route,
    state,
)

# ---------------------------------------------------------------------------- identities


@route("ims", "GET", "/<org>/_apis/identities", "Identities_Read Identities")
def read_identities(org: str) -> Response:
    del org
    if request.args.get("searchFilter") != "General" or not request.args.get("filterValue"):
        raise APIError(
            400,
            "Only searchFilter=General with a filterValue is served here.",
            "InvalidArgumentValueException",
        )
    found = state().search_identity(request.args["filterValue"])
    return envelope([payloads.identity(i) for i in found])


# ---------------------------------------------------------------------------- work items

WORK_ITEM_STATES = ("To Do", "Doing", "Done")  # the Basic process's Issue
WIQL = re.compile(
    r"^\s*SELECT\s+\[System\.Id\]\s+FROM\s+WorkItems\s+WHERE\s+(?P<where>.+?)"
    r"(?:\s+ORDER\s+BY\s+\[(?P<order>[\w.]+)\](?:\s+(?P<dir>ASC|DESC))?)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
CLAUSE = re.compile(
    r"^\[(?P<field>[\w.]+)\]\s*(?P<op>=|<>|CONTAINS)\s*(?:'(?P<value>(?:[^']|'')*)'"
    r"|(?P<macro>@project))$",
    re.IGNORECASE,
)


def _patch_fields(item_fields: dict[str, Any], ops: Any) -> None:
    if not isinstance(ops, list) or not ops:
        raise APIError(
            400,
            "You must pass a valid patch document in the body of the request.",
            "VssPropertyValidationException",
        )
    for op in ops:
        path = str(op.get("path", ""))
        if op.get("op") not in ("add", "replace") or not path.startswith("/fields/"):
            raise APIError(
                400,
                f"Only add/replace of /fields/* is served here ({path}).",
                "VssPropertyValidationException",
            )
        field_name = path.removeprefix("/fields/")
        if field_name == "System.State" and op.get("value") not in WORK_ITEM_STATES:
            raise APIError(
                400,
                "TF401320: Rule Error for field State. Error code: Required, "
                "HasValues, LimitedToValues, AllowsOldValue, InvalidEmpty.",
                "RuleValidationException",
            )
        item_fields[field_name] = op.get("value")


@route("wit", "POST", "/<org>/<project>/_apis/wit/workitems/$<kind>", "Work Items_Create")
def create_work_item(org: str, project: str, kind: str) -> Response:
    if kind != "Issue":
        raise APIError(
            404,
            f"TF201036: Work item type {kind} does not exist in {project}.",
            "WorkItemTypeNotFoundException",
        )
    fields: dict[str, Any] = {}
    _patch_fields(fields, body_json())
    if not fields.get("System.Title"):
        raise APIError(
            400,
            "TF401320: Rule Error for field Title. Error code: Required.",
            "RuleValidationException",
        )
    st = state()
    with st.lock:
        item = WorkItem(st.take_id("workitem"), project, {})
        item.fields = {
            "System.Id": item.id,
            "System.TeamProject": project,
            "System.WorkItemType": kind,
            "System.State": "To Do",
            "System.CreatedDate": now_iso(),
            "System.CreatedBy": payloads.identity_ref(base(org), g.identity),
            **fields,
        }
        st.work_items[item.id] = item
    return json_response(payloads.work_item(base(org), item))


@route("wit", "GET", "/<org>/<project>/_apis/wit/workitems", "Work Items_List")
def list_work_items(org: str, project: str) -> Response:
    try:
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i]
    except ValueError:
        raise APIError(400, "ids must be integers.", "InvalidArgumentValueException") from None
    with state().lock:
        items = [state().work_items.get(i) for i in ids]
    if any(i is None or i.project.lower() != project.lower() for i in items):
        raise APIError(
            404,
            "TF401232: Work item does not exist, or you do not have permissions.",
            "WorkItemUnauthorizedAccessException",
        )
    return envelope([payloads.work_item(base(org), i) for i in items if i is not None])


@route("wit", "PATCH", "/<org>/<project>/_apis/wit/workitems/<int:number>", "Work Items_Update")
def update_work_item(org: str, project: str, number: int) -> Response:
    st = state()
    with st.lock:
        item = st.work_items.get(number)
        if item is None or item.project.lower() != project.lower():
            raise APIError(
                404,
                f"TF401232: Work item {number} does not exist.",
                "WorkItemUnauthorizedAccessException",
            )
        _patch_fields(item.fields, body_json())
        item.rev += 1
    return json_response(payloads.work_item(base(org), item))


@route("wit", "POST", "/<org>/<project>/<team>/_apis/wit/wiql", "Wiql_Query By Wiql")
def query_wiql(org: str, project: str, team: str) -> Response:
    """Flat queries of work items: `[Field] = | <> | CONTAINS 'value'` clauses joined by AND,
    `@project`, an optional ORDER BY one field (anything else is refused, not guessed at)."""
    del team
    text = str(body_json().get("query") or "")
    match = WIQL.match(text)
    if match is None:
        raise APIError(
            400,
            "TF51005: The query references a form this stand-in does not serve.",
            "WiqlSyntaxException",
        )
    clauses = []
    for part in re.split(r"\s+AND\s+", match["where"].strip(), flags=re.IGNORECASE):
        clause = CLAUSE.match(part.strip())
        if clause is None:
            raise APIError(
                400, f"TF51005: cannot read the clause {part.strip()!r}.", "WiqlSyntaxException"
            )
        value = project if clause["macro"] else clause["value"].replace("''", "'")
        clauses.append((clause["field"], clause["op"].upper(), value))
    with state().lock:
        items = [i for i in state().work_items.values() if i.project.lower() == project.lower()]
    found = [i for i in items if all(_holds(i.fields, *c) for c in clauses)]
    if match["order"]:
        found.sort(
            key=lambda i: str(i.fields.get(match["order"], "")),
            reverse=(match["dir"] or "ASC").upper() == "DESC",
        )
    b = base(org)
    return json_response(
        {
            "queryType": "flat",
            "queryResultType": "workItem",
            "asOf": now_iso(),
            "columns": [
                {
                    "referenceName": "System.Id",
                    "name": "ID",
                    "url": f"{b}/_apis/wit/fields/System.Id",
                }
            ],
            "workItems": [
                {"id": i.id, "url": f"{b}/{project}/_apis/wit/workItems/{i.id}"} for i in found
            ],
        }
    )


def _holds(fields: dict[str, Any], name: str, op: str, value: str) -> bool:
    actual = fields.get(name)
    text = "" if actual is None else str(actual)
    if name == "System.Tags" and op == "CONTAINS":
        return value.lower() in [t.strip().lower() for t in text.split(";")]
    if op == "CONTAINS":
        return value.lower() in text.lower()
    return (text.lower() == value.lower()) == (op == "=")
