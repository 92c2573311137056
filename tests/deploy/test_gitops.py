"""The Flux and Argo CD config: renders with kustomize and points every env at `release`.

No cluster is reachable here, so these are static checks of the rendered objects (the CRDs'
controllers are not running); each assertion is a property the engines rely on.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from bot.deploy_check import KNOWN_ENVS, parse_rendered, render

REPO = Path(__file__).resolve().parents[2]
GITOPS = REPO / "deploy" / "gitops"


def rendered(path: Path) -> list[dict[str, Any]]:
    return parse_rendered(render(path))


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def test_flux_tracks_release_and_applies_every_overlay_with_prune_and_health() -> None:
    objs = rendered(GITOPS / "flux")
    [repo] = by_kind(objs, "GitRepository").values()
    assert repo["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert repo["spec"]["ref"] == {"branch": "release"}
    kustomizations = by_kind(objs, "Kustomization")
    assert set(kustomizations) == {f"modelops-{env}" for env in KNOWN_ENVS}
    for env in KNOWN_ENVS:
        spec = kustomizations[f"modelops-{env}"]["spec"]
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": repo["metadata"]["name"]}
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


def test_flux_rolls_environments_in_promotion_order() -> None:
    ks = by_kind(rendered(GITOPS / "flux"), "Kustomization")
    order = list(KNOWN_ENVS)
    for previous, env in itertools.pairwise(order):
        assert ks[f"modelops-{env}"]["spec"]["dependsOn"] == [{"name": f"modelops-{previous}"}]
    assert "dependsOn" not in ks[f"modelops-{order[0]}"]["spec"]


def test_argocd_applications_track_release_with_automated_sync() -> None:
    objs = rendered(GITOPS / "argocd" / "release")
    [project] = by_kind(objs, "AppProject").values()
    assert "syncWindows" not in project["spec"]
    apps = by_kind(objs, "Application")
    assert set(apps) == {f"modelops-{env}" for env in KNOWN_ENVS}
    allowed = {d["namespace"] for d in project["spec"]["destinations"]}
    for env in KNOWN_ENVS:
        spec = apps[f"modelops-{env}"]["spec"]
        assert spec["project"] == project["metadata"]["name"]
        assert spec["source"]["targetRevision"] == "release"
        assert spec["source"]["repoURL"] in project["spec"]["sourceRepos"]
        assert (REPO / spec["source"]["path"] / "kustomization.yaml").is_file()
        assert spec["destination"]["namespace"] == f"modelops-{env}"
        assert spec["destination"]["namespace"] in allowed
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


@pytest.mark.parametrize("env", KNOWN_ENVS)
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


def test_argocd_track_main_alternative_syncs_only_in_a_night_window() -> None:
    objs = rendered(GITOPS / "argocd" / "track-main")
    [project] = by_kind(objs, "AppProject").values()
    [window] = project["spec"]["syncWindows"]
    assert window["kind"] == "allow"
    _minute, hour, *rest = window["schedule"].split()
    assert rest == ["*", "*", "*"]
    assert 0 <= int(hour) <= 5
    assert window["duration"] == "2h"
    apps = by_kind(objs, "Application")
    assert {a["spec"]["source"]["targetRevision"] for a in apps.values()} == {"main"}
