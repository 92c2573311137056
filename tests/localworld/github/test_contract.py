"""The contract checker itself: it must catch responses GitHub could not send."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from github.Repository import Repository

from localworld.github import LocalGitHub
from localworld.github.app import create_app
from localworld.github.contract import (
    CACHE_DIR,
    SPEC_PATH,
    Contract,
    served_operations,
    to_json_schema,
)
from localworld.github.errors import ContractError
from localworld.github.state import ServerState
from localworld.github.web import operation_id
from tests.localworld.github.conftest import Checkout


def test_every_served_operation_is_in_githubs_description(github_openapi: Contract):
    assert set(github_openapi.operations) == set(served_operations())
    merge = github_openapi.operations["pulls/merge"]
    assert (merge.method, merge.path) == ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")
    assert {"200", "405", "409"} <= set(merge.responses)


def test_served_routes_are_read_from_the_apps_url_map_and_match_the_description(
    github_openapi: Contract, tmp_path: Path
):
    app = create_app(tmp_path, ServerState())
    served = served_operations(app)
    assert served["pulls/get"] == ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")
    assert "health" not in served  # /_localworld/* is the admin side, not GitHub's
    urls = app.url_map.bind("localhost")
    examples = {
        "pull_number": 7,
        "issue_number": 7,
        "installation_id": 7,
        "basehead": "main...dev",
        "ref": "heads/a/b",
    }
    for rule in app.url_map.iter_rules():
        op = operation_id(rule.endpoint)
        if op not in served:
            continue
        method = served[op][0]
        path = urls.build(rule.endpoint, {a: examples.get(a, "x") for a in rule.arguments})
        assert github_openapi.matches(op, method, path), (op, path)


def test_an_operation_routed_twice_is_refused(tmp_path: Path):
    app = create_app(tmp_path, ServerState())
    app.add_url_rule("/again", endpoint="extra.pulls/get", view_func=lambda: "")
    with pytest.raises(ContractError, match="pulls/get"):
        served_operations(app)


def test_the_subset_is_cached_under_the_hash_of_the_description(github_openapi: Contract):
    digest = hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest()
    assert any(p.name.startswith(digest[:24]) for p in CACHE_DIR.iterdir())


def test_a_description_without_our_operations_is_refused(tmp_path: Path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"paths": {}}))
    with pytest.raises(ContractError, match="pulls/merge"):
        Contract.load(spec, tmp_path / "cache")


def test_nullable_becomes_an_explicit_null():
    schema = to_json_schema(
        {
            "type": "object",
            "properties": {
                "a": {"type": "string", "nullable": True, "enum": ["x"]},
                "b": {"nullable": True, "allOf": [{"type": "object"}]},
            },
        }
    )
    assert schema["properties"]["a"] == {"type": ["string", "null"], "enum": ["x", None]}
    assert schema["properties"]["b"] == {
        "anyOf": [{"allOf": [{"type": "object"}]}, {"type": "null"}]
    }


def _logged(github: LocalGitHub, since: int, operation: str) -> dict[str, Any]:
    return next(e for e in github.requests(since, bodies=True) if e["operation"] == operation)


def test_check_catches_what_github_could_not_send(
    github: LocalGitHub, github_openapi: Contract, checkout: Checkout, repo: Repository
):
    checkout.start_branch("promote/dev")
    checkout.commit("promote/dev", {"x": "x\n"}, "x")
    checkout.push("promote/dev")
    since = github.last_seq()
    pr = repo.create_pull(base="main", head="promote/dev", title="t")
    repo.get_pull(pr.number)
    good = _logged(github, since, "pulls/get")
    assert github_openapi.check(good) == []

    missing = copy.deepcopy(good)
    del missing["response_body"]["number"]
    assert any("'number' is a required property" in p for p in github_openapi.check(missing))

    wrong_type = copy.deepcopy(good)
    wrong_type["response_body"]["mergeable_state"] = None
    assert github_openapi.check(wrong_type)

    teapot = {**good, "status": 418}
    assert "documents only" in github_openapi.check(teapot)[0]

    wrong_route = {**good, "path": "/repos/a/b/issues/1"}
    assert "does not match pulls/get" in github_openapi.check(wrong_route)[0]

    created = _logged(github, since, "pulls/create")
    assert github_openapi.check(created) == []
    bad_request = copy.deepcopy(created)
    bad_request["request_body"]["title"] = 5
    assert any("request body" in p for p in github_openapi.check(bad_request))


def test_gateway_errors_and_conditional_gets_are_held_to_githubs_error_shape(
    github_openapi: Contract,
):
    entry = {"method": "GET", "path": "/user", "operation": "users/get-authenticated"}
    assert github_openapi.check({**entry, "status": 502, "response_body": {"message": "x"}}) == []
    assert github_openapi.check({**entry, "status": 304, "response_body": None}) == []
    assert github_openapi.check({**entry, "status": 502, "response_body": {"message": 1}})
    assert github_openapi.check({**entry, "status": 403, "response_body": {"message": "no"}}) == []
    pulls = {"method": "GET", "path": "/repos/a/b/pulls", "operation": "pulls/list"}
    assert github_openapi.check({**pulls, "status": 403, "response_body": {"message": "no"}})
    rate = {"message": "API rate limit exceeded for user ID 1."}
    assert github_openapi.check({**pulls, "status": 403, "response_body": rate}) == []


def test_pygithub_bare_label_arrays_are_accepted_as_the_description_text_says(
    github_openapi: Contract,
):
    entry = {
        "method": "POST",
        "path": "/repos/a/b/issues/1/labels",
        "operation": "issues/add-labels",
        "status": 200,
        "response_body": [],
        "request_body": ["promotion"],
    }
    assert github_openapi.check(entry) == []
    assert github_openapi.check({**entry, "request_body": [{"nom": 1}]})
