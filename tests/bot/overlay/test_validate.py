"""`promotion-bot validate` on the shipped deploy tree and policy, and on broken copies of them
(real kubectl)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot import cli
from bot.cli import main
from bot.overlay.pins import check_pins
from bot.overlay.pss import check_manifest
from bot.overlay.render import parse_rendered, render
from bot.overlay.schema import check_schema
from bot.overlay.validate import Problem, validate_overlays
from bot.policy import load_policy

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
POLICY = load_policy(REPO / "promotion.yaml")
ENVS = tuple(POLICY.names)
IMAGE, PIN = POLICY.image_name, POLICY.model_pin


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A private copy of deploy/ (and promotion.yaml beside it) to break."""
    dest = tmp_path / "deploy"
    shutil.copytree(DEPLOY, dest)
    shutil.copy(REPO / "promotion.yaml", tmp_path / "promotion.yaml")
    return dest


def validate(tree: Path, kubectl: str = "kubectl") -> list[Problem]:
    """`validate_overlays` of the repository holding `tree` (a deploy/ copy), shipped policy."""
    return validate_overlays(tree.parent, POLICY, kubectl=kubectl)


def kfile(tree: Path, env: str) -> Path:
    return tree / "overlays" / env / "kustomization.yaml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def fields(problems: list[Problem]) -> set[str]:
    return {p.field for p in problems}


def test_repository_overlays_have_no_problems() -> None:
    assert validate_overlays(REPO, POLICY) == []


@pytest.mark.parametrize("env", ENVS)
def test_overlay_renders_image_as_name_tag_at_digest(env: str) -> None:
    text = kfile(DEPLOY, env).read_text()
    new_name = re.search(r"newName: (\S+)", text)
    tag = re.search(r"newTag: (\S+)", text)
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", text)
    assert new_name and tag and digest
    want = f"{new_name[1]}:{tag[1]}@{digest[1]}"
    objs = parse_rendered(render(DEPLOY / "overlays" / env))
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    images = [c["image"] for c in pod["initContainers"] + pod["containers"]]
    assert images == [want, want, want]  # fetch-model, app and its proxy: one image, one pin
    assert deployment["metadata"]["namespace"] == f"modelops-{env}"


def test_model_pin_change_changes_configmap_name_so_pods_roll(tree: Path) -> None:
    def pin_name() -> str:
        objs = parse_rendered(render(tree / "overlays" / "dev"))
        deployment = next(o for o in objs if o["kind"] == "Deployment")
        refs: list[str] = [
            e["configMapRef"]["name"]
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        ]
        return next(r for r in refs if r.startswith("model-pin-"))

    before = pin_name()
    edit(kfile(tree, "dev"), "MODEL_VERSION=1", "MODEL_VERSION=2")
    assert pin_name() != before


def test_missing_digest_names_file_and_field(tree: Path) -> None:
    path = kfile(tree, "staging")
    path.write_text(re.sub(r"\n    digest: sha256:[0-9a-f]{64}", "", path.read_text()))
    problems = validate(tree)
    assert (
        Problem(
            str(path),
            "images[modelops-app].digest",
            "missing: pin the image by digest (sha256:<64 hex>)",
        )
        in problems
    )
    assert {p.file for p in problems if "(rendered)" not in p.file} == {str(path)}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("digest: sha256:ABC", "images[modelops-app].digest"),
        ("digest: sha512:" + "a" * 64, "images[modelops-app].digest"),
        ("digest: sha256:" + "a" * 63, "images[modelops-app].digest"),
    ],
)
def test_malformed_digest_is_refused(tree: Path, bad: str, field: str) -> None:
    path = kfile(tree, "dev")
    path.write_text(re.sub(r"digest: sha256:[0-9a-f]{64}", bad, path.read_text()))
    problems = validate(tree)
    assert field in fields(problems)
    assert all(p.file.startswith(str(path)) for p in problems)


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ("MODEL_VERSION=1", "MODEL_VERSION=0", "MODEL_VERSION", "positive integer"),
        ("MODEL_VERSION=1", "MODEL_VERSION=v2", "MODEL_VERSION", "positive integer"),
        ("MODEL_VERSION=1", "MODEL_VERSION=-3", "MODEL_VERSION", "positive integer"),
        ("MODEL_SHA256=7a0f", "MODEL_SHA256=7A0F", "MODEL_SHA256", "64 lowercase hex"),
        ("MODEL_SHA256=7a0f", "MODEL_SHA256=zz7a0f", "MODEL_SHA256", "64 lowercase hex"),
        ("      - MODEL_NAME=digits\n", "", "MODEL_NAME", "missing"),
        ("MODEL_NAME=digits", "MODEL_NAME=../Digits", "MODEL_NAME", "lowercase model name"),
        # kustomize keeps the newline in the ConfigMap; the service and fetch_model refuse it
        ("- MODEL_NAME=digits\n", '- "MODEL_NAME=digits\\n"\n', "MODEL_NAME", "model name"),
    ],
)
def test_bad_model_pin_names_the_literal(
    tree: Path, old: str, new: str, field: str, fragment: str
) -> None:
    path = kfile(tree, "dev")
    edit(path, old, new)
    problems = [p for p in validate(tree) if p.file == str(path)]
    [problem] = problems
    assert problem.field == f"configMapGenerator[model-pin].literals.{field}"
    assert fragment in problem.message


def test_model_literal_given_twice_is_refused(tree: Path) -> None:
    path = kfile(tree, "prod")
    edit(path, "      - MODEL_VERSION=1\n", "      - MODEL_VERSION=1\n      - MODEL_VERSION=2\n")
    problems = validate(tree)
    assert "configMapGenerator[model-pin].literals.MODEL_VERSION" in fields(problems)


def test_missing_image_entry_is_refused(tree: Path) -> None:
    path = kfile(tree, "dev")
    edit(path, "  - name: modelops-app\n", "  - name: other-app\n")
    problems = validate(tree)
    assert Problem(str(path), "images", "no entry with name: modelops-app") in problems


def test_malformed_yaml_names_file_and_line(tree: Path) -> None:
    path = kfile(tree, "prod")
    edit(path, "images:\n", "images:\n  - name: [unclosed\n")
    problems = validate(tree)
    [problem] = problems
    assert problem.file == str(path)
    assert problem.field == "(yaml)"
    assert re.search(r"malformed YAML at line \d+, column \d+", problem.message)


def test_unknown_environment_is_refused(tree: Path) -> None:
    shutil.copytree(tree / "overlays" / "dev", tree / "overlays" / "qa")
    problems = validate(tree)
    assert problems == [
        Problem(
            str(tree / "overlays" / "qa"),
            "overlays",
            "unknown environment 'qa'; known: dev, staging, prod",
        )
    ]


def test_missing_environment_is_reported(tree: Path) -> None:
    shutil.rmtree(tree / "overlays" / "prod")
    assert validate(tree) == [
        Problem(str(tree / "overlays" / "prod"), "overlays", "environment missing")
    ]


def test_overlay_without_kustomization_file_is_reported(tree: Path) -> None:
    kfile(tree, "staging").unlink()
    [problem] = validate(tree)
    assert problem.file == str(kfile(tree, "staging"))
    assert "missing" in problem.message


def test_render_failure_is_reported_with_kustomize_message(tree: Path) -> None:
    edit(kfile(tree, "dev"), "  - namespace.yaml\n", "  - does-not-exist.yaml\n")
    [problem] = validate(tree)
    assert problem.file == str(kfile(tree, "dev"))
    assert problem.field == "(kustomize build)"
    assert "does-not-exist.yaml" in problem.message


def test_missing_kubectl_is_a_clear_problem(tree: Path) -> None:
    problems = validate(tree, kubectl=str(tree / "no-kubectl"))
    assert len(problems) == 3
    assert all("not found on PATH" in p.message for p in problems)


def test_schema_catches_misspelt_field_in_sizing(tree: Path) -> None:
    edit(tree / "overlays" / "staging" / "sizing.yaml", "  minReplicas: 2", "  minReplica: 2")
    problems = validate(tree)
    [problem] = problems
    assert problem.file == f"{kfile(tree, 'staging')} (rendered)"
    assert problem.field == "HorizontalPodAutoscaler/modelops-app"
    assert "minReplica" in problem.message
    assert "Kubernetes 1.31.0" in problem.message


def test_schema_catches_wrong_type(tree: Path) -> None:
    edit(tree / "overlays" / "prod" / "sizing.yaml", "  maxReplicas: 10", "  maxReplicas: ten")
    problems = validate(tree)
    assert any(
        p.field == "HorizontalPodAutoscaler/modelops-app" and "spec.maxReplicas" in p.message
        for p in problems
    )


def test_privilege_escalation_patch_is_refused(tree: Path) -> None:
    sizing = tree / "overlays" / "prod" / "sizing.yaml"
    edit(
        sizing,
        "        - name: app\n",
        "        - name: app\n"
        "          securityContext:\n"
        "            allowPrivilegeEscalation: true\n",
    )
    problems = validate(tree)
    assert [p.field for p in problems] == [
        "Deployment/modelops-app: spec.template.spec.containers[app]"
        ".securityContext.allowPrivilegeEscalation"
    ]


def test_overlay_that_unplugs_the_model_pin_is_refused(tree: Path) -> None:
    path = kfile(tree, "dev")
    edit(
        path,
        "patches:\n",
        "patches:\n"
        "  - target: {kind: Deployment, name: modelops-app}\n"
        "    patch: |-\n"
        "      - op: remove\n"
        "        path: /spec/template/spec/containers/0/envFrom\n",
    )
    problems = validate(tree)
    assert [(p.field, p.message) for p in problems] == [
        (
            "Deployment/modelops-app: containers[app].envFrom",
            "does not read the model-pin ConfigMap",
        )
    ]


def test_check_pins_refuses_non_mapping_and_other_kinds() -> None:
    assert check_pins(["a"], IMAGE, PIN) == [
        ("(document)", "expected a mapping (a Kustomization), got list")
    ]
    problems = check_pins({"kind": "Component"}, IMAGE, PIN)
    assert ("kind", "expected Kustomization, got 'Component'") in problems
    assert {f for f, _ in problems} == {"kind", "images", "configMapGenerator"}


def test_check_pins_refuses_model_pin_from_files() -> None:
    doc = {
        "images": [
            {
                "name": "modelops-app",
                "newName": "r.example/app",
                "newTag": "1",
                "digest": "sha256:" + "0" * 64,
            }
        ],
        "configMapGenerator": [{"name": "model-pin", "envs": ["pin.env"]}],
    }
    assert check_pins(doc, IMAGE, PIN) == [
        ("configMapGenerator[model-pin]", "pins must be plain literals, not envs")
    ]


def test_check_pins_refuses_numeric_tag() -> None:
    doc = {
        "images": [
            {"name": "modelops-app", "newName": "r.example/app", "newTag": 7.0, "digest": "x"}
        ]
    }
    fields_ = {f for f, _ in check_pins(doc, IMAGE, PIN)}
    assert {"images[modelops-app].newTag", "images[modelops-app].digest"} <= fields_


def _pod(container: dict[str, object], **pod: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [container], **pod},
    }


GOOD_CONTAINER: dict[str, object] = {
    "name": "c",
    "image": "r.example/app:1@sha256:" + "0" * 64,
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
}
TMP = [{"name": "tmp", "emptyDir": {}}]


def test_check_manifest_accepts_a_restricted_pod() -> None:
    assert check_manifest(_pod(GOOD_CONTAINER, volumes=TMP)) == []
    assert check_schema(_pod(GOOD_CONTAINER, volumes=TMP)) == []


def test_check_manifest_refuses_root_host_access_and_unpinned_image() -> None:
    container = {
        **GOOD_CONTAINER,
        "image": "r.example/app:latest",
        "securityContext": {"runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}},
        "ports": [{"containerPort": 80, "hostPort": 80}],
    }
    pod = _pod(container, hostNetwork=True, volumes=[{"name": "h", "hostPath": {"path": "/"}}])
    got = {re.sub(r"^Pod/p: spec\.(containers\[c\]\.)?", "", f) for f, _ in check_manifest(pod)}
    assert got == {
        "hostNetwork",
        "volumes[h]",
        "securityContext.runAsNonRoot",
        "securityContext.runAsUser",
        "securityContext.allowPrivilegeEscalation",
        "securityContext.readOnlyRootFilesystem",
        "securityContext.capabilities.drop",
        "securityContext.capabilities.add",
        "securityContext.seccompProfile.type",
        "ports",
        "volumeMounts",
        "image",
    }


def test_check_manifest_takes_pod_level_security_defaults() -> None:
    container = {
        **GOOD_CONTAINER,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    pod_sc = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
    assert check_manifest(_pod(container, securityContext=pod_sc, volumes=TMP)) == []


def test_check_schema_reports_unknown_kind() -> None:
    got = check_schema({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {}})
    assert got == ["no Kubernetes 1.31.0 schema for example.io/v1 Widget"]


def test_main_exit_codes(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tree.parent)]) == 0
    assert "ok:" in capsys.readouterr().out
    kfile(tree, "dev").write_text("images: [\n")
    assert main(["validate", str(tree.parent)]) == 1
    out = capsys.readouterr().out
    assert f"{kfile(tree, 'dev')}: (yaml): malformed YAML" in out
    assert main(["validate", "--bogus"]) == 2
    capsys.readouterr()


def test_main_unexpected_error_exits_3_and_traceback_is_a_flag(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(_root: Path, _policy: object) -> list[Problem]:
        raise RuntimeError("schemas missing")

    monkeypatch.setattr(cli, "validate_overlays", crash)  # injected: no real way
    assert main(["validate", str(tree.parent)]) == 3
    err = capsys.readouterr().err
    assert err == "unexpected error: RuntimeError: schemas missing (rerun with --traceback)\n"
    assert main(["--traceback", "validate", str(tree.parent)]) == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_render_to_writes_one_file_per_env_only_when_valid(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    assert main(["validate", str(tree.parent), "--render-to", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["dev.yaml", "prod.yaml", "staging.yaml"]
    kinds = {o["kind"] for o in parse_rendered((out / "prod.yaml").read_text())}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Namespace"} <= kinds
    broken_out = tmp_path / "broken"
    edit(kfile(tree, "dev"), "MODEL_VERSION=1", "MODEL_VERSION=zero")
    assert main(["validate", str(tree.parent), "--render-to", str(broken_out)]) == 1
    assert not broken_out.exists()


def test_make_validate_target_exists_and_runs_the_command() -> None:
    done = subprocess.run(
        ["make", "-n", "validate"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "promotion-bot validate ." in done.stdout
    done = subprocess.run(
        ["make", "-n", "validate", "RENDER_DIR=out dir"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert '--render-to "out dir"' in done.stdout


@pytest.mark.parametrize(
    ("container_sc", "pod_sc", "field"),
    [
        ({"procMount": "Unmasked"}, {}, "containers[c].securityContext.procMount"),
        (
            {"appArmorProfile": {"type": "Unconfined"}},
            {},
            "containers[c].securityContext.appArmorProfile.type",
        ),
        (
            {"seLinuxOptions": {"type": "spc_t"}},
            {},
            "containers[c].securityContext.seLinuxOptions.type",
        ),
        (
            {"seLinuxOptions": {"user": "system_u"}},
            {},
            "containers[c].securityContext.seLinuxOptions.user",
        ),
        ({}, {"appArmorProfile": {"type": "Unconfined"}}, "securityContext.appArmorProfile.type"),
        ({}, {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}, "securityContext.sysctls"),
    ],
)
def test_check_manifest_refuses_what_baseline_forbids(container_sc, pod_sc, field) -> None:
    container = {
        **GOOD_CONTAINER,
        "securityContext": {**GOOD_CONTAINER["securityContext"], **container_sc},  # type: ignore[dict-item]
    }
    got = [f for f, _ in check_manifest(_pod(container, securityContext=pod_sc, volumes=TMP))]
    assert got == [f"Pod/p: spec.{field}"]


def test_check_manifest_accepts_allowed_baseline_options() -> None:
    container = {
        **GOOD_CONTAINER,
        "securityContext": {
            **GOOD_CONTAINER["securityContext"],  # type: ignore[dict-item]
            "procMount": "Default",
            "appArmorProfile": {"type": "RuntimeDefault"},
            "seLinuxOptions": {"type": "container_t", "level": "s0:c123,c456"},
        },
    }
    pod_sc = {"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}]}
    assert check_manifest(_pod(container, securityContext=pod_sc, volumes=TMP)) == []


@pytest.mark.parametrize("name", ["my_model", "x-", "digits"])
def test_model_names_the_store_accepts_can_be_pinned(name: str) -> None:
    doc = {
        "images": [
            {"name": "modelops-app", "newName": "r.example/app", "newTag": "1",
             "digest": "sha256:" + "0" * 64}
        ],
        "configMapGenerator": [
            {"name": "model-pin",
             "literals": [f"MODEL_NAME={name}", "MODEL_VERSION=1", "MODEL_SHA256=" + "a" * 64]}
        ],
    }  # fmt: skip
    assert check_pins(doc, IMAGE, PIN) == []


def _policy_with(tmp_path: Path, edit_envs: Any) -> Any:
    """The shipped policy, its environments passed through `edit_envs`, loaded from tmp_path."""
    yaml = YAML()
    data = yaml.load((REPO / "promotion.yaml").read_text())
    edit_envs(data["environments"])
    with (tmp_path / "promotion.yaml").open("w") as fh:
        yaml.dump(data, fh)
    return load_policy(tmp_path / "promotion.yaml")


def test_a_new_environment_is_an_overlay_and_a_policy_entry(tree: Path, tmp_path: Path) -> None:
    shutil.copytree(tree / "overlays" / "staging", tree / "overlays" / "qa")

    def add_qa(envs: Any) -> None:
        qa = copy.deepcopy(envs[1])
        qa["name"], qa["overlay"] = "qa", "deploy/overlays/qa/kustomization.yaml"
        qa["source"]["previous"] = "staging"
        envs[2]["source"]["previous"] = "qa"
        envs.insert(2, qa)

    policy = _policy_with(tmp_path, add_qa)
    assert validate_overlays(tmp_path, policy) == []
    kfile(tree, "qa").write_text(kfile(tree, "qa").read_text().replace("digest: sha256:", "#"))
    problems = validate_overlays(tmp_path, policy)
    assert "images[modelops-app].digest" in fields(problems)
    assert all(p.file.startswith(str(kfile(tree, "qa"))) for p in problems)


def test_overlays_live_where_the_policy_says(tree: Path, tmp_path: Path) -> None:
    (tree / "overlays").rename(tree / "envs")

    def move(envs: Any) -> None:
        for env in envs:
            env["overlay"] = f"deploy/envs/{env['name']}/kustomization.yaml"

    assert validate_overlays(tmp_path, _policy_with(tmp_path, move)) == []
    assert validate_overlays(tmp_path, POLICY) == sorted(
        Problem(str(tree / "overlays" / env), "overlays", "environment missing") for env in ENVS
    )


def test_an_alias_in_an_overlay_is_a_problem_naming_the_line(tree: Path) -> None:
    path = kfile(tree, "dev")
    edit(path, "namespace: modelops-dev", "namespace: &ns modelops-dev")
    [problem] = validate(tree)
    assert problem == Problem(
        str(path),
        "(yaml)",
        "namespace is written as a YAML anchor, alias or tag (line 4: anchor &ns); "
        "anchors and aliases have no place in an overlay",
    )


def test_validate_names_the_policy_file_when_it_is_broken(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree.parent / "promotion.yaml").write_text("version: 1\nenvironments: []\n")
    assert main(["validate", str(tree.parent)]) == 2  # a configuration error
    assert f"{tree.parent / 'promotion.yaml'}: " in capsys.readouterr().err
