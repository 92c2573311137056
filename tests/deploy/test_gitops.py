"""The Flux and Argo CD config: renders, validates offline, and reports deployments to the forge.

No cluster is reachable here, so these are static checks of the rendered objects (the CRDs'
controllers are not running); each assertion is a property the engines rely on. Custom resources
are validated against the real CRD schemas checked into `testdata/crds/` (source and version in
each file); built-in kinds against the Kubernetes JSON schemas `promotion-bot validate` uses.

The deployment-confirmation part (docs/deployment-confirmation.md) checks that the shipped
notification config produces exactly the commit statuses recorded in
`testdata/controller_statuses.json`, which the bot's reader is built against.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from ruamel.yaml import YAML

from bot.core.confirm import ConfirmMode, controller, release_ref
from bot.overlay.render import parse_rendered, render
from bot.overlay.schema import check_schema

REPO = Path(__file__).resolve().parents[2]
GITOPS = REPO / "deploy" / "gitops"
TESTDATA = Path(__file__).resolve().parent / "testdata"
CRDS = TESTDATA / "crds"
STATUSES = TESTDATA / "controller_statuses.json"

RENDERED_DIRS = [
    "flux",
    "argocd/release",
    "secrets/external-secrets",
    "secrets/keyvault-csi",
]

# The Flux github Provider's key names for a GitHub App (fluxcd/pkg auth/githubapp/client.go).
FLUX_GITHUB_APP_KEYS = {"githubAppID", "githubAppInstallationID", "githubAppPrivateKey"}
# Our Provider's status context (docs/deployment-confirmation.md).
FLUX_COMMIT_STATUS_EXPR = (
    "(event.involvedObject.kind + '/' + event.involvedObject.name + '/' + "
    "event.metadata.cluster).lowerAscii()"
)
ARGO_REVISION_PATH = "{{.app.status.operationState.syncResult.revision}}"
ARGO_REPO_URL_PATH = "{{.app.spec.source.repoURL}}"
SUBSCRIBE = "notifications.argoproj.io/subscribe."


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def _environments() -> list[str]:
    """The environments of the shipped promotion.yaml, in promotion order."""
    doc = _yaml().load((REPO / "promotion.yaml").read_text(encoding="utf-8"))
    return [env["name"] for env in doc["environments"]]


ENVS = _environments()


@cache
def _rendered(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(parse_rendered(render(path)))


def rendered(path: Path) -> list[dict[str, Any]]:
    return copy.deepcopy(list(_rendered(path)))


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def statuses_fixture() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(STATUSES.read_text(encoding="utf-8"))
    return doc


def owner_repo(url: str) -> str:
    """`https://github.com/o/r(.git)` -> `o/r` (as both controllers derive it)."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    assert len(parts) == 2, url
    return f"{parts[0]}/{parts[1].removesuffix('.git')}"


# --------------------------------------------------------------------------------------------
# CRD schemas (offline)
# --------------------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """Refuse unknown fields, as the API server does with strict field validation.

    An object schema with `properties` and neither `additionalProperties` nor
    `x-kubernetes-preserve-unknown-fields` gets `additionalProperties: false`.
    """
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft202012Validator]:
    validators = {}
    for path in sorted(CRDS.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        key = (f"{doc['group']}/{doc['version']}", doc["kind"])
        validators[key] = jsonschema.Draft202012Validator(_strict(doc["openAPIV3Schema"]))
    return validators


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Validate one rendered object: CRD schema for custom kinds, Kubernetes schema otherwise."""
    key = (obj["apiVersion"], obj["kind"])
    validator = crd_validators().get(key)
    if validator is None:
        return check_schema(obj)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    # The CRDs declare `metadata: {type: object}`; the API server checks it as ObjectMeta.
    meta_probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]}
    errors += [f"metadata: {m}" for m in check_schema(meta_probe)]
    return errors


def test_crd_schemas_in_testdata_name_their_upstream_source() -> None:
    files = sorted(CRDS.glob("*.json"))
    assert files
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        source = doc["source"]
        assert source["repository"].startswith("github.com/"), path.name
        assert re.fullmatch(r"v\d+\.\d+\.\d+", source["tag"]), path.name
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), path.name
        assert source["path"].endswith(".yaml"), path.name
        assert doc["served"] is True, path.name
        assert doc["openAPIV3Schema"]["type"] == "object", path.name


@pytest.mark.parametrize("directory", RENDERED_DIRS)
def test_every_gitops_object_validates_against_its_schema(directory: str) -> None:
    objs = rendered(GITOPS / directory)
    assert objs
    for obj in objs:
        where = f"{directory}: {obj['kind']}/{obj['metadata']['name']}"
        assert schema_errors(obj) == [], where


@pytest.mark.parametrize(
    ("kind", "path", "value", "expected"),
    [
        ("Alert", ["spec", "eventSeverity"], "warning", "'warning' is not one of"),
        ("Alert", ["spec", "eventSources", 0, "kind"], "Deployment", "is not one of"),
        ("Provider", ["spec", "token"], "ghp_inline", "Additional properties"),
        ("Provider", ["spec", "type"], "gitHub", "is not one of"),
        ("Alert", ["metadata", "labels", "env"], 3, "is not of type 'string'"),
    ],
)
def test_crd_validation_refuses_what_the_api_server_refuses(
    kind: str, path: list[str | int], value: object, expected: str
) -> None:
    name = {"Provider": "github-commit-status", "Alert": "modelops-dev-commit-status"}[kind]
    obj = by_kind(rendered(GITOPS / "flux"), kind)[name]
    assert schema_errors(obj) == []
    node: Any = obj
    for step in path[:-1]:
        node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
    node[path[-1]] = value
    errors = schema_errors(obj)
    assert any(expected in e for e in errors), errors


# --------------------------------------------------------------------------------------------
# What was there: tracking, paths, ordering, project whitelist
# --------------------------------------------------------------------------------------------


def test_flux_each_environment_applies_its_overlay_from_its_own_release_branch() -> None:
    objs = rendered(GITOPS / "flux")
    repos = by_kind(objs, "GitRepository")
    kustomizations = by_kind(objs, "Kustomization")
    assert set(kustomizations) == {f"modelops-{env}" for env in ENVS}
    assert set(repos) == {f"modelops-{env}" for env in ENVS}
    # One repository, fetched once per environment ref.
    assert len({r["spec"]["url"] for r in repos.values()}) == 1
    for env in ENVS:
        spec = kustomizations[f"modelops-{env}"]["spec"]
        source = repos[spec["sourceRef"]["name"]]
        assert source["apiVersion"] == "source.toolkit.fluxcd.io/v1"
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": f"modelops-{env}"}
        assert source["spec"]["ref"] == {"branch": release_ref(env)}
        assert (REPO / spec["path"] / "kustomization.yaml").is_file()
        assert spec["path"] == f"./deploy/overlays/{env}"
        assert spec["prune"] is True
        assert spec["timeout"]
        assert spec["healthChecks"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "modelops-app",
                "namespace": f"modelops-{env}",
            }
        ]


def test_flux_environments_are_ordered_by_their_refs_not_by_depends_on() -> None:
    # The previous environment's health gates a ref move (the release job), not a reconcile:
    # with separate sources, dependsOn would only make a broken staging block prod's rollback.
    objs = rendered(GITOPS / "flux")
    sources = [k["spec"]["sourceRef"]["name"] for k in by_kind(objs, "Kustomization").values()]
    assert len(set(sources)) == len(ENVS)
    for kustomization in by_kind(objs, "Kustomization").values():
        assert "dependsOn" not in kustomization["spec"]


def test_argocd_each_application_tracks_its_own_release_branch_with_automated_sync() -> None:
    objs = rendered(GITOPS / "argocd" / "release")
    [project] = by_kind(objs, "AppProject").values()
    assert "syncWindows" not in project["spec"]
    apps = by_kind(objs, "Application")
    assert set(apps) == {f"modelops-{env}" for env in ENVS}
    allowed = {d["namespace"] for d in project["spec"]["destinations"]}
    for env in ENVS:
        app = apps[f"modelops-{env}"]
        spec = app["spec"]
        assert spec["project"] == project["metadata"]["name"]
        # One source, on this environment's ref only: prod never resolves a ref staging's
        # confirmation has not moved (no `sources`, no ApplicationSet fanning one ref out).
        assert "sources" not in spec
        assert spec["source"]["targetRevision"] == release_ref(env)
        assert spec["source"]["repoURL"] in project["spec"]["sourceRepos"]
        assert (REPO / spec["source"]["path"] / "kustomization.yaml").is_file()
        assert spec["source"]["path"] == f"deploy/overlays/{env}"
        assert spec["destination"]["namespace"] == f"modelops-{env}"
        assert spec["destination"]["namespace"] in allowed
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert app["metadata"]["labels"]["modelops.io/env"] == env


def test_no_gitops_object_tracks_a_shared_release_branch_or_main() -> None:
    # Moving one ref must move one environment: nothing may follow `release` or `main`.
    for directory in RENDERED_DIRS:
        for obj in rendered(GITOPS / directory):
            spec = obj.get("spec", {})
            refs = [spec.get("ref", {}).get("branch"), spec.get("source", {}).get("targetRevision")]
            for ref in filter(None, refs):
                assert ref in {release_ref(env) for env in ENVS}, (directory, obj["kind"], ref)


@pytest.mark.parametrize("env", ENVS)
def test_argocd_project_whitelists_every_kind_the_overlay_renders(env: str) -> None:
    [project] = by_kind(rendered(GITOPS / "argocd" / "release"), "AppProject").values()
    allowed = {
        (w["group"], w["kind"])
        for w in project["spec"]["namespaceResourceWhitelist"]
        + project["spec"]["clusterResourceWhitelist"]
    }
    for obj in rendered(REPO / "deploy" / "overlays" / env):
        group = obj["apiVersion"].rpartition("/")[0]
        assert (group, obj["kind"]) in allowed, obj["kind"]


# --------------------------------------------------------------------------------------------
# Flux: Provider + one Alert per environment
# --------------------------------------------------------------------------------------------


def flux_provider(objs: list[dict[str, Any]]) -> dict[str, Any]:
    [provider] = by_kind(objs, "Provider").values()
    return provider


def test_flux_provider_posts_github_statuses_to_the_gitops_repository() -> None:
    objs = rendered(GITOPS / "flux")
    provider = flux_provider(objs)
    spec = provider["spec"]
    assert provider["apiVersion"] == "notification.toolkit.fluxcd.io/v1beta3"
    assert spec["type"] == "github"
    # The statuses land on the repository whose commits Flux applies, for every environment.
    for repo in by_kind(objs, "GitRepository").values():
        assert provider["metadata"]["namespace"] == repo["metadata"]["namespace"]
        assert owner_repo(spec["address"]) == owner_repo(repo["spec"]["url"])
    assert urlsplit(spec["address"]).scheme == "https"
    assert spec["commitStatusExpr"] == FLUX_COMMIT_STATUS_EXPR
    assert "suspend" not in spec


def test_flux_provider_credentials_are_referenced_never_inlined() -> None:
    objs = rendered(GITOPS / "flux")
    spec = flux_provider(objs)["spec"]
    assert spec["secretRef"] == {"name": "github-commit-status"}
    assert not urlsplit(spec["address"]).username
    assert not urlsplit(spec["address"]).password
    # No Secret travels with the GitOps config: it is synced from Key Vault at install time.
    assert not by_kind(objs, "Secret")
    assert "ghp_" not in json.dumps(objs)
    assert "PRIVATE KEY" not in json.dumps(objs)


@pytest.mark.parametrize("env", ENVS)
def test_flux_each_environment_has_an_alert_on_its_own_kustomization(env: str) -> None:
    objs = rendered(GITOPS / "flux")
    provider = flux_provider(objs)
    kustomization = by_kind(objs, "Kustomization")[f"modelops-{env}"]
    alerts = [
        a
        for a in by_kind(objs, "Alert").values()
        if any(s["name"] == f"modelops-{env}" for s in a["spec"]["eventSources"])
    ]
    [alert] = alerts
    spec = alert["spec"]
    assert alert["metadata"]["namespace"] == kustomization["metadata"]["namespace"]
    assert spec["providerRef"] == {"name": provider["metadata"]["name"]}
    # Only this environment's Kustomization (a wildcard would mix environments in one context).
    assert spec["eventSources"] == [{"kind": "Kustomization", "name": f"modelops-{env}"}]
    # `info` forwards info and error events: success and failure both reach the Provider.
    assert spec["eventSeverity"] == "info"
    # The Provider's commitStatusExpr reads event.metadata.cluster: without it nothing is sent.
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", spec["eventMetadata"]["cluster"])
    assert not spec.get("suspend", False)


def _admitted(alert: dict[str, Any], message: str) -> bool:
    """Alert inclusion/exclusion as notification-controller applies it (regex on the message)."""
    spec = alert["spec"]
    inclusion = spec.get("inclusionList", [])
    if inclusion and not any(re.search(p, message) for p in inclusion):
        return False
    return not any(re.search(p, message) for p in spec.get("exclusionList", []))


def test_flux_alerts_admit_the_success_and_failure_events_kustomize_controller_emits() -> None:
    alerts = by_kind(rendered(GITOPS / "flux"), "Alert")
    flux = [s for s in statuses_fixture()["statuses"] if s["controller"] == "flux"]
    assert {s["outcome"] for s in flux} == {"success", "failure"}
    for status in flux:
        alert = alerts[f"modelops-{status['environment']}-commit-status"]
        assert _admitted(alert, status["event"]["message"]), status["id"]


# A port of notification-controller's formatNameAndDescription / splitCamelcase
# (internal/notifier/util.go@v1.9.3), used to check the fixtures' descriptions.
def _char_class(ch: str) -> int:
    category = unicodedata.category(ch)
    if category == "Ll":
        return 1
    if category == "Lu":
        return 2
    if category == "Nd":
        return 3
    return 4


def flux_description(reason: str) -> str:
    runs: list[list[str]] = []
    last = 0
    for ch in reason:
        cls = _char_class(ch)
        if cls == last:
            runs[-1].append(ch)
        else:
            runs.append([ch])
        last = cls
    for i in range(len(runs) - 1):
        if runs[i][0].isupper() and runs[i + 1][0].islower():
            runs[i + 1].insert(0, runs[i].pop())
    return " ".join("".join(r) for r in runs if r).lower()


def test_flux_description_port_matches_the_upstream_examples() -> None:
    # Cases from internal/notifier/util_test.go and the reasons in fluxcd/pkg apis/meta.
    assert flux_description("ReconciliationSucceeded") == "reconciliation succeeded"
    assert flux_description("HealthCheckFailed") == "health check failed"
    assert flux_description("PDFLoader") == "pdf loader"
    assert flux_description("BuildFailed") == "build failed"


def _flux_expected_post(status: dict[str, Any], objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The request the shipped Provider + Alert make for the fixture's event (github.go Post)."""
    event = status["event"]
    provider = flux_provider(objs)
    [alert] = [
        a
        for a in by_kind(objs, "Alert").values()
        if a["spec"]["eventSources"][0]["name"] == event["involvedObject"]["name"]
    ]
    group = event["involvedObject"]["apiVersion"].split("/")[0]
    metadata = {k.removeprefix(f"{group}/"): v for k, v in event["metadata"].items()}
    metadata.update(alert["spec"].get("eventMetadata", {}))
    revision = metadata.get("commit") or metadata.get("originRevision") or metadata["revision"]
    sha = revision.rpartition(":")[2]
    assert re.fullmatch(r"[0-9a-f]{40}", sha)
    involved = event["involvedObject"]
    # commitStatusExpr, evaluated for this event (the expression is pinned above).
    context = f"{involved['kind']}/{involved['name']}/{metadata['cluster']}".lower()
    state = {"info": "success", "error": "failure"}[event["severity"]]
    return {
        "method": "POST",
        "path": f"/repos/{owner_repo(provider['spec']['address'])}/statuses/{sha}",
        "body": {
            "state": state,
            "description": flux_description(event["reason"]),
            "context": context,
        },
    }


def test_flux_fixture_statuses_are_what_the_shipped_config_posts() -> None:
    objs = rendered(GITOPS / "flux")
    flux = [s for s in statuses_fixture()["statuses"] if s["controller"] == "flux"]
    assert flux
    for status in flux:
        event = status["event"]
        # The only events a github Provider forwards: commit-status updates and errors.
        assert (
            event["metadata"].get("kustomize.toolkit.fluxcd.io/commit_status") == "update"
            or event["severity"] == "error"
        ), status["id"]
        # The revision is the environment's own ref, as its GitRepository reports it.
        kustomization = by_kind(objs, "Kustomization")[event["involvedObject"]["name"]]
        source = by_kind(objs, "GitRepository")[kustomization["spec"]["sourceRef"]["name"]]
        revision = event["metadata"]["kustomize.toolkit.fluxcd.io/revision"]
        assert revision == f"{source['spec']['ref']['branch']}@sha1:{status['sha']}", status["id"]
        get, post = status["requests"]
        assert post == _flux_expected_post(status, objs), status["id"]
        assert get == {
            "method": "GET",
            "path": post["path"].replace("/statuses/", "/commits/", 1) + "/statuses",
            "query": {"per_page": "50"},
        }
        assert post["path"].endswith(status["sha"])


# --------------------------------------------------------------------------------------------
# Argo CD Notifications: service, triggers, templates, subscriptions
# --------------------------------------------------------------------------------------------


def notifications_cm(objs: list[dict[str, Any]]) -> dict[str, str]:
    cm = by_kind(objs, "ConfigMap")["argocd-notifications-cm"]
    assert cm["metadata"]["namespace"] == "argocd"
    data: dict[str, str] = cm["data"]
    return data


def triggers(data: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {
        k.removeprefix("trigger."): _yaml().load(v)
        for k, v in data.items()
        if k.startswith("trigger.")
    }


def templates(data: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        k.removeprefix("template."): _yaml().load(v)
        for k, v in data.items()
        if k.startswith("template.")
    }


def test_argocd_github_service_authenticates_as_an_app_from_the_notifications_secret() -> None:
    objs = rendered(GITOPS / "argocd" / "release")
    data = notifications_cm(objs)
    service = _yaml().load(data["service.github"])
    # notifications-engine's GitHubOptions: a GitHub App only; each value a `$key` reference
    # into argocd-notifications-secret, never the value itself.
    assert set(service) == {"appID", "installationID", "privateKey"}
    assert service == {
        "appID": "$github-appID",
        "installationID": "$github-installationID",
        "privateKey": "$github-privateKey",
    }
    assert not by_kind(objs, "Secret")
    assert "PRIVATE KEY" not in json.dumps(objs)
    assert urlsplit(_yaml().load(data["context"])["argocdUrl"]).scheme == "https"


def test_argocd_templates_post_to_the_commit_the_application_synced() -> None:
    data = notifications_cm(rendered(GITOPS / "argocd" / "release"))
    tmpl = templates(data)
    assert tmpl
    for name, template in tmpl.items():
        github = template["github"]
        # The SHA the sync resolved `release` to, on the Application's own repository.
        assert github["revisionPath"] == ARGO_REVISION_PATH, name
        assert github["repoURLPath"] == ARGO_REPO_URL_PATH, name
        status = github["status"]
        assert status["label"] == "continuous-delivery/{{.app.metadata.name}}", name
        assert status["state"] in {"success", "pending", "failure", "error"}, name
        assert status["targetURL"].startswith("{{.context.argocdUrl}}/applications/"), name
        # The message becomes the description: one line, no trailing newline.
        assert "\n" not in template["message"], name


def test_argocd_success_is_posted_only_for_synced_and_healthy() -> None:
    data = notifications_cm(rendered(GITOPS / "argocd" / "release"))
    tmpl, trig = templates(data), triggers(data)
    states = {
        name: {tmpl[t]["github"]["status"]["state"] for c in conditions for t in c["send"]}
        for name, conditions in trig.items()
    }
    assert states == {
        "on-deployed": {"success"},
        "on-sync-succeeded": {"pending"},
        "on-health-degraded": {"failure"},
        "on-sync-failed": {"error"},
    }
    [deployed] = trig["on-deployed"]
    assert "app.status.operationState.phase in ['Succeeded']" in deployed["when"]
    assert "app.status.health.status == 'Healthy'" in deployed["when"]
    # A synced-but-settled app is on-deployed's (success) or on-health-degraded's (failure):
    # on-sync-succeeded never fires in the same pass and leaves `pending` on top.
    [synced] = trig["on-sync-succeeded"]
    assert "!(app.status.health.status in ['Healthy', 'Degraded'])" in synced["when"]
    for name, conditions in trig.items():
        for condition in conditions:
            assert condition["oncePer"] == "app.status.operationState?.syncResult?.revision", name


@pytest.mark.parametrize("env", ENVS)
def test_argocd_each_application_subscribes_github_to_every_status_trigger(env: str) -> None:
    objs = rendered(GITOPS / "argocd" / "release")
    trig = triggers(notifications_cm(objs))
    app = by_kind(objs, "Application")[f"modelops-{env}"]
    subscriptions = {
        k.removeprefix(SUBSCRIBE): v
        for k, v in app["metadata"]["annotations"].items()
        if k.startswith(SUBSCRIBE)
    }
    assert subscriptions == {f"{name}.github": "" for name in trig}


def render_go_template(text: str, variables: dict[str, Any]) -> str:
    """Render the `{{.a.b.c}}` field references our templates use (nothing else is allowed)."""

    def lookup(match: re.Match[str]) -> str:
        node: Any = variables
        for part in match.group(1).split("."):
            node = node[part]
        assert isinstance(node, str), match.group(0)
        return node

    out = re.sub(r"\{\{\s*\.([A-Za-z0-9_.]+)\s*\}\}", lookup, text)
    assert "{{" not in out, f"unsupported template syntax in {text!r}"
    return out


def _argo_trunc(message: str, limit: int = 140) -> str:
    """notifications-engine pkg/services/github.go trunc: at most 140 runes, `...` when cut."""
    return message[: limit - 3] + "..." if len(message) > limit else message


def test_argocd_fixture_statuses_are_what_the_shipped_templates_post() -> None:
    objs = rendered(GITOPS / "argocd" / "release")
    data = notifications_cm(objs)
    tmpl, trig = templates(data), triggers(data)
    apps = by_kind(objs, "Application")
    argo = [s for s in statuses_fixture()["statuses"] if s["controller"] == "argocd"]
    assert argo
    for status in argo:
        variables = status["vars"]
        app = apps[variables["app"]["metadata"]["name"]]
        # The fixture's Application is the shipped one, and the fixture's context is ours.
        assert variables["app"]["spec"]["source"] == {
            k: app["spec"]["source"][k] for k in ("repoURL", "targetRevision")
        }
        assert variables["context"] == _yaml().load(data["context"])
        assert [status["template"]] == [t for c in trig[status["trigger"]] for t in c["send"]]
        template = tmpl[status["template"]]
        github = template["github"]
        revision = render_go_template(github["revisionPath"], variables)
        assert revision == status["sha"]
        repo = owner_repo(render_go_template(github["repoURLPath"], variables))
        body = {
            "state": render_go_template(github["status"]["state"], variables),
            "target_url": render_go_template(github["status"]["targetURL"], variables),
            "description": _argo_trunc(render_go_template(template["message"], variables)),
            "context": render_go_template(github["status"]["label"], variables),
        }
        expected = {"method": "POST", "path": f"/repos/{repo}/statuses/{revision}", "body": body}
        assert status["requests"] == [expected], status["id"]
        assert len(body["description"]) <= 140


# --------------------------------------------------------------------------------------------
# The fixtures the bot's reader is built against
# --------------------------------------------------------------------------------------------


def test_fixtures_cover_every_environment_and_outcome_of_both_controllers() -> None:
    doc = statuses_fixture()
    seen = {(s["controller"], s["environment"], s["outcome"]) for s in doc["statuses"]}
    for env in ENVS:
        for outcome in ("success", "failure"):
            assert ("flux", env, outcome) in seen
        for outcome in ("success", "failure", "error", "progressing"):
            assert ("argocd", env, outcome) in seen
    assert {s["environment"] for s in doc["statuses"]} == set(ENVS)
    # Flux posts nothing while progressing; the fixtures say so instead of inventing a status.
    assert any(
        n["controller"] == "flux" and n["outcome"] == "progressing" for n in doc["not_posted"]
    )
    assert len({s["id"] for s in doc["statuses"]}) == len(doc["statuses"])


def test_every_fixture_cites_its_source_at_a_version() -> None:
    doc = statuses_fixture()
    for entry in doc["statuses"] + doc["not_posted"]:
        assert re.search(r"@(v\d+\.\d+\.\d+ \([0-9a-f]{40}\)|[0-9a-f]{40})", entry["source"]), entry
        for path in re.findall(
            r"(?:internal|pkg|controller|notifications_catalog)/[\w/*.-]+", entry["source"]
        ):
            assert path.endswith((".go", ".yaml", "*.yaml")), path


def test_fixture_contexts_map_back_to_their_environment_and_state() -> None:
    doc = statuses_fixture()
    patterns = doc["contexts"]
    for status in doc["statuses"]:
        rule = patterns[status["controller"]]
        post = status["requests"][-1]
        body = post["body"]
        match = re.fullmatch(rule["pattern"], body["context"])
        assert match, status["id"]
        assert match["env"] == status["environment"]
        state = body["state"]
        kind = (
            "success"
            if state in rule["success_states"]
            else "failure"
            if state in rule["failure_states"]
            else "ignored"
        )
        assert kind == {"success": "success", "progressing": "ignored"}.get(
            status["outcome"], "failure"
        ), status["id"]
        assert re.fullmatch(r"[0-9a-f]{40}", status["sha"])
        assert post["path"] == f"/repos/example-org/modelops/statuses/{status['sha']}"
    # The two controllers' contexts never collide, and neither looks like a CI or freeze status.
    for a, b in itertools.permutations(patterns.values(), 2):
        for status in doc["statuses"]:
            context = status["requests"][-1]["body"]["context"]
            assert not (re.fullmatch(a["pattern"], context) and re.fullmatch(b["pattern"], context))
    for other in ("promotion/freeze", "ci/build", "continuous-integration/modelops-dev"):
        assert not any(re.fullmatch(p["pattern"], other) for p in patterns.values())


def test_the_bot_reads_each_shipped_status_as_its_controller_and_environment() -> None:
    # The fixtures are what the shipped config posts (tests above); the bot's reader must
    # attribute each to the environment whose engine object posted it, and to no other.
    for status in statuses_fixture()["statuses"]:
        context = status["requests"][-1]["body"]["context"]
        for env in ENVS:
            expected = status["controller"] if env == status["environment"] else None
            assert controller(context, env, ConfirmMode.COMMIT_STATUS) == expected, status["id"]


def test_the_document_states_the_same_context_rules_as_the_fixtures() -> None:
    doc = (REPO / "docs" / "deployment-confirmation.md").read_text(encoding="utf-8")
    for rule in statuses_fixture()["contexts"].values():
        assert f"`{rule['pattern']}`" in doc
    assert f'`commitStatusExpr: "{FLUX_COMMIT_STATUS_EXPR}"`' in doc


# --------------------------------------------------------------------------------------------
# Delivering the credentials from Azure Key Vault
# --------------------------------------------------------------------------------------------


def _secret_keys_the_engines_read() -> dict[tuple[str, str], set[str]]:
    flux = flux_provider(rendered(GITOPS / "flux"))
    service = _yaml().load(
        notifications_cm(rendered(GITOPS / "argocd" / "release"))["service.github"]
    )
    argo_keys = {v.removeprefix("$") for v in service.values()}
    return {
        (flux["metadata"]["namespace"], flux["spec"]["secretRef"]["name"]): FLUX_GITHUB_APP_KEYS,
        ("argocd", "argocd-notifications-secret"): argo_keys,
    }


def test_external_secrets_produce_exactly_the_secrets_the_engines_read() -> None:
    objs = rendered(GITOPS / "secrets" / "external-secrets")
    produced = {}
    for es in by_kind_all(objs, "ExternalSecret"):
        ns = es["metadata"]["namespace"]
        spec = es["spec"]
        [store] = [
            s
            for s in by_kind_all(objs, "SecretStore")
            if s["metadata"]["namespace"] == ns
            and s["metadata"]["name"] == spec["secretStoreRef"]["name"]
        ]
        assert spec["secretStoreRef"]["kind"] == "SecretStore"
        azure = store["spec"]["provider"]["azurekv"]
        assert azure["authType"] == "WorkloadIdentity"
        assert re.fullmatch(r"https://[a-z0-9-]+\.vault\.azure\.net", azure["vaultUrl"])
        [sa] = [
            a
            for a in by_kind_all(objs, "ServiceAccount")
            if a["metadata"]["namespace"] == ns
            and a["metadata"]["name"] == azure["serviceAccountRef"]["name"]
        ]
        assert "azure.workload.identity/client-id" in sa["metadata"]["annotations"]
        target = spec["target"]
        produced[(ns, target["name"])] = {d["secretKey"] for d in spec["data"]}
        # Argo CD's install owns argocd-notifications-secret: merge into it, do not take it over.
        expected_policy = "Merge" if target["name"] == "argocd-notifications-secret" else "Owner"
        assert target["creationPolicy"] == expected_policy
    assert produced == _secret_keys_the_engines_read()


def test_keyvault_csi_classes_sync_exactly_the_secrets_the_engines_read() -> None:
    objs = rendered(GITOPS / "secrets" / "keyvault-csi")
    produced = {}
    for spc in by_kind_all(objs, "SecretProviderClass"):
        spec = spc["spec"]
        assert spec["provider"] == "azure"
        params = spec["parameters"]
        assert params["usePodIdentity"] == "false"  # workload identity
        items = _yaml().load(params["objects"])["array"]
        fetched = {_yaml().load(item)["objectName"] for item in items}
        [synced] = spec["secretObjects"]
        assert {d["objectName"] for d in synced["data"]} == fetched
        produced[(spc["metadata"]["namespace"], synced["secretName"])] = {
            d["key"] for d in synced["data"]
        }
    assert produced == _secret_keys_the_engines_read()


def test_both_delivery_examples_read_the_same_key_vault_secrets() -> None:
    eso = {
        d["remoteRef"]["key"]
        for es in by_kind_all(rendered(GITOPS / "secrets" / "external-secrets"), "ExternalSecret")
        for d in es["spec"]["data"]
    }
    csi = {
        d["objectName"]
        for spc in by_kind_all(rendered(GITOPS / "secrets" / "keyvault-csi"), "SecretProviderClass")
        for d in spc["spec"]["secretObjects"][0]["data"]
    }
    expected = {
        "github-status-app-id",
        "github-status-installation-id",
        "github-status-private-key",
    }
    assert eso == expected
    assert csi == expected


def by_kind_all(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Objects of one kind (names repeat across namespaces here, so not keyed by name)."""
    return [o for o in objs if o["kind"] == kind]
