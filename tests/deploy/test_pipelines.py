"""`azure-pipelines.yml`: structure Azure Pipelines accepts, valid schedules, no secrets, and
every `make X` it runs is a Makefile target (Azure DevOps itself cannot run here)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter
from ruamel.yaml import YAML

from bot.core.confirm import release_ref

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "azure-pipelines.yml"
STEP_KINDS = {"script", "bash", "task", "checkout", "publish", "download", "template"}
SECRET_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"AccountKey=",
        r"SharedAccessSignature=|[?&]sig=",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",
        r"\b(password|passwd|secret|token|client_secret)\s*[:=]\s*['\"]?[A-Za-z0-9+/_.-]{8,}",
        r"--password(?!-stdin)\b",
        r"\b[A-Za-z0-9+/]{40,}={0,2}",  # long base64 blobs (keys)
    )
]


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    doc = YAML(typ="safe", pure=True).load(PIPELINE.read_text())
    assert isinstance(doc, dict)
    return doc


def stages(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["stage"]: s for s in pipeline["stages"]}


def all_steps(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for s in pipeline["stages"] for j in s["jobs"] for step in j["steps"]]


def step_text(step: dict[str, Any]) -> str:
    parts = [step.get("script", ""), step.get("bash", "")]
    parts.append(str((step.get("inputs") or {}).get("inlineScript", "")))
    return "\n".join(parts)


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.MULTILINE))


def test_pipeline_has_triggers_stages_jobs_and_steps(pipeline: dict[str, Any]) -> None:
    assert pipeline["trigger"]["branches"]["include"] == ["*"]
    # The bot's branches never trigger CI (its PRs are validated as PRs); PRs to main are.
    # Every environment's release branch is one the nightly release moves (bot.core.confirm).
    assert pipeline["trigger"]["branches"]["exclude"] == ["promote/*", "release/*"]
    for env in ("dev", "staging", "prod"):
        assert fnmatch.fnmatchcase(release_ref(env), "release/*")
    assert pipeline["pr"]["branches"]["include"] == ["main"]
    names = [s["stage"] for s in pipeline["stages"]]
    assert names == ["Test", "Build", "Smoke", "Promote", "Release"]
    for stage in pipeline["stages"]:
        assert set(stage) <= {"stage", "displayName", "dependsOn", "condition", "jobs", "variables"}
        deps = stage.get("dependsOn", [])
        for dep in [deps] if isinstance(deps, str) else deps:
            assert dep in names[: names.index(stage["stage"])]
        jobs = [j["job"] for j in stage["jobs"]]
        assert len(jobs) == len(set(jobs)) > 0
        for job in stage["jobs"]:
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", job["job"])
            assert job["steps"]
            for step in job["steps"]:
                assert len(STEP_KINDS & set(step)) == 1, step


def test_schedules_are_valid_cron_on_main_and_always(pipeline: dict[str, Any]) -> None:
    schedules = pipeline["schedules"]
    assert {s["displayName"] for s in schedules} == {"Hourly promotion", "Nightly release"}
    for schedule in schedules:
        assert len(schedule["cron"].split()) == 5
        assert croniter.is_valid(schedule["cron"])
        assert schedule["always"] is True
        assert schedule["branches"]["include"] == ["main"]
    by_name = {s["displayName"]: s["cron"] for s in schedules}
    hourly = croniter(by_name["Hourly promotion"], 0)
    first, second = hourly.get_next(float), hourly.get_next(float)
    assert second - first == 3600
    nightly = croniter(by_name["Nightly release"], 0)
    assert nightly.get_next(float) + 86400 == nightly.get_next(float)
    # The two never fire in the same minute (the bot holds a lock, but why contend).
    assert by_name["Hourly promotion"].split()[0] != by_name["Nightly release"].split()[0]


def test_scheduled_stages_match_schedule_names_and_others_skip_schedules(
    pipeline: dict[str, Any],
) -> None:
    by_stage = stages(pipeline)
    names = {s["displayName"] for s in pipeline["schedules"]}
    for stage, schedule in (("Promote", "Hourly promotion"), ("Release", "Nightly release")):
        condition = by_stage[stage]["condition"]
        assert "eq(variables['Build.Reason'], 'Schedule')" in condition
        assert f"eq(variables['Build.CronSchedule.DisplayName'], '{schedule}')" in condition
        assert schedule in names
        assert by_stage[stage]["dependsOn"] == []
    for stage in ("Test", "Build"):
        assert "ne(variables['Build.Reason'], 'Schedule')" in by_stage[stage]["condition"]
    build = by_stage["Build"]["condition"]
    assert "eq(variables['Build.SourceBranch'], 'refs/heads/main')" in build
    assert "ne(variables['Build.Reason'], 'PullRequest')" in build


def test_conditions_have_balanced_parentheses(pipeline: dict[str, Any]) -> None:
    for stage in pipeline["stages"]:
        condition = stage.get("condition", "")
        depth = 0
        for char in condition:
            depth += {"(": 1, ")": -1}.get(char, 0)
            assert depth >= 0, condition
        assert depth == 0, condition


def test_bot_commands_run_in_their_stages(pipeline: dict[str, Any]) -> None:
    by_stage = stages(pipeline)

    def text(stage: str) -> str:
        return "\n".join(step_text(s) for j in by_stage[stage]["jobs"] for s in j["steps"])

    assert "promotion-bot run" in text("Promote")
    assert "promotion-bot release" in text("Release")
    assert "make lint" in text("Test")
    assert "make test" in text("Test")
    assert "scripts.build_image --wheelhouse-only" in text("Build")
    assert "make smoke" in text("Smoke")
    assert 'REVISION="$(Build.SourceVersion)"' in text("Smoke")
    # The bot's stages install the package only: no Debian packages, npm, sudo or make setup.
    for stage in ("Promote", "Release"):
        assert "pip install --quiet .\n" in text(stage)
        for banned in ("sudo", "apt", "npm", "make setup"):
            assert banned not in text(stage), (stage, banned)


def test_build_records_digest_and_labels_and_uses_service_connections(
    pipeline: dict[str, Any],
) -> None:
    build = stages(pipeline)["Build"]
    steps = [s for j in build["jobs"] for s in j["steps"]]
    tag_step = next(s for s in steps if "imageTag" in s.get("script", ""))
    assert "$(Build.BuildId)" in tag_step["script"]
    assert "git rev-parse --short=7 HEAD" in tag_step["script"]
    docker = [s for s in steps if s.get("task") == "Docker@2"]
    assert [s["inputs"]["command"] for s in docker] == ["login", "build", "push"]
    assert {s["inputs"]["containerRegistry"] for s in docker} == {
        "$(dockerRegistryServiceConnection)"
    }
    arguments = docker[1]["inputs"]["arguments"]
    for arg in ("REVISION", "VERSION", "CREATED", "SOURCE", "MODEL_INPUT_SIGNATURE"):
        assert f"--build-arg {arg}=" in arguments
    azure = [s for s in steps if s.get("task") == "AzureCLI@2"]
    assert [s["inputs"]["azureSubscription"] for s in azure] == ["$(azureServiceConnection)"]
    assert "az acr repository show" in azure[0]["inputs"]["inlineScript"]
    assert any(s.get("publish") and s.get("artifact") == "image" for s in steps)
    test_steps = [s for j in stages(pipeline)["Test"]["jobs"] for s in j["steps"]]
    assert any(s.get("artifact") == "manifests" for s in test_steps)


def test_pipeline_contains_no_literal_secrets() -> None:
    text = PIPELINE.read_text()
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), pattern.pattern
    # Secrets reach steps only as $(VARIABLE) macros from the variable group.
    for match in re.finditer(r"^\s*(GITHUB_TOKEN|REGISTRY_PASSWORD):\s*(.+)$", text, re.MULTILINE):
        assert re.fullmatch(r"\$\([A-Z_]+\)", match[2].strip()), match[0]


def test_secret_scan_catches_a_planted_secret() -> None:
    planted = "  password: hunter2hunter2\n  AccountKey=abc\n"
    assert sum(bool(p.search(planted)) for p in SECRET_PATTERNS) == 2


def test_every_make_target_called_exists(pipeline: dict[str, Any]) -> None:
    called: set[str] = set()
    for step in all_steps(pipeline):
        called |= set(re.findall(r"\bmake\s+([a-z][a-z0-9_-]*)", step_text(step)))
    assert {"lint", "test", "validate", "setup", "setup-debian"} <= called
    missing = called - makefile_targets()
    assert not missing, f"make targets called by the pipeline but not in the Makefile: {missing}"


@pytest.mark.parametrize("command", ["promotion-bot run", "promotion-bot release"])
def test_bot_steps_have_the_settings_the_bot_requires(
    pipeline: dict[str, Any], command: str
) -> None:
    [step] = [s for s in all_steps(pipeline) if command in step_text(s)]
    env = step.get("env") or {}
    # Settings.check() refuses to run without these; the remote carries no credentials
    assert {"GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITOPS_REMOTE", "MODELSTORE_ACCOUNT_URL"} <= set(
        env
    )
    assert "@" not in str(env["GITOPS_REMOTE"])
    assert "credential.https://github.com.helper" in step_text(step)
