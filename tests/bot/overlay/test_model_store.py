"""One model store for every environment: the shipped overlays read `promotion.yaml`'s
`model_store`, and `promotion-bot validate` refuses an overlay reading another (real kubectl)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.overlay.render import parse_rendered, render
from bot.overlay.validate import Problem, check_model_store, validate_overlays
from bot.policy import load_policy

REPO = Path(__file__).resolve().parents[3]
POLICY = load_policy(REPO / "promotion.yaml")
STORE = POLICY.model_store
END_OF_PINS = (
    "# ===== end of pins. Everything below is environment settings, not touched by the bot.\n"
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    return tmp_path / "deploy"


def store_problems(root: Path) -> list[Problem]:
    return [p for p in validate_overlays(root, POLICY) if "MODELSTORE_" in p.field]


@pytest.mark.parametrize("env", POLICY.names)
def test_each_shipped_overlay_reads_the_policys_one_store(env: str) -> None:
    """Fails when an overlay and promotion.yaml disagree on where models come from."""
    overlay = REPO / POLICY.environment(env).overlay
    rendered = parse_rendered(render(overlay.parent))
    store_map = next(
        o
        for o in rendered
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("modelstore-")
    )
    assert store_map["data"] == {
        "MODELSTORE_ACCOUNT_URL": "https://modelopsmodels.blob.core.windows.net",
        "MODELSTORE_CONTAINER": "models",
    }
    assert (STORE.account_url, STORE.container) == tuple(store_map["data"].values())
    assert check_model_store(rendered, STORE) == []


def test_an_overlay_pointing_at_its_own_account_is_refused_naming_file_and_value(
    tree: Path,
) -> None:
    kfile = tree / "overlays" / "staging" / "kustomization.yaml"
    text = kfile.read_text()
    other = "https://modelopsmodelsstg.blob.core.windows.net"
    kfile.write_text(
        text.replace(
            END_OF_PINS,
            END_OF_PINS + "  - name: modelstore\n    behavior: merge\n    literals:\n"
            f"      - MODELSTORE_ACCOUNT_URL={other}\n",
        )
    )
    problems = store_problems(tree.parent)
    assert len(problems) == 1
    (problem,) = problems
    assert problem.file == f"{kfile} (rendered)"
    assert (
        problem.field
        == "Deployment/modelops-app: initContainers[fetch-model].MODELSTORE_ACCOUNT_URL"
    )
    assert other in problem.message and STORE.account_url in problem.message


def test_another_container_in_the_init_containers_env_is_refused(tree: Path) -> None:
    deployment = tree / "base" / "deployment.yaml"
    text = deployment.read_text()
    old = "          env:\n            - name: MODEL_DIR\n"
    assert old in text
    deployment.write_text(
        text.replace(
            old,
            "          env:\n            - name: MODELSTORE_CONTAINER\n"
            "              value: dev-models\n            - name: MODEL_DIR\n",
            1,
        )
    )
    problems = store_problems(tree.parent)
    assert sorted({p.file.split("/overlays/")[1].split("/")[0] for p in problems}) == sorted(
        POLICY.names
    )
    assert {p.field.rsplit(".", 1)[1] for p in problems} == {"MODELSTORE_CONTAINER"}
    assert all("dev-models is not the model store" in p.message for p in problems)


def test_an_init_container_that_names_no_store_is_refused(tree: Path) -> None:
    deployment = tree / "base" / "deployment.yaml"
    text = deployment.read_text()
    old = "            - configMapRef:\n                name: modelstore\n"
    assert text.count(old) == 1
    deployment.write_text(text.replace(old, ""))
    problems = store_problems(tree.parent)
    assert len(problems) == 2 * len(POLICY.names)
    assert all(p.message.startswith("not set; promotion.yaml model_store is") for p in problems)
