"""The pipeline runner itself: schema validity of azure-pipelines.yml, which stages each kind
of run starts, and the agent behaviour (non-root steps, secrets, logging commands, artifacts,
unknown tasks) on small pipelines that run in seconds."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.pipelines.conftest import PIPELINE, Acr, make_runner
from tests.pipelines.expressions import Context, ExpressionError, evaluate
from tests.pipelines.runner import AGENT_UID, Agent, load_pipeline
from tests.pipelines.tasks import TaskDefinition, validate_inputs
from tests.pipelines.variables import PipelineError

TESTDATA = Path(__file__).resolve().parent / "testdata"


def test_pipeline_is_valid_against_the_published_azure_pipelines_schema() -> None:
    schema = json.loads((TESTDATA / "service-schema.json").read_text())
    assert schema["$comment"] == "v1.261.1"  # the version SOURCES.md records
    assert "v1.261.1" in (TESTDATA / "SOURCES.md").read_text()
    validator = jsonschema.Draft7Validator(schema)
    # Azure DevOps reads every scalar as a string; so does the schema.
    document = YAML(typ="base").load(PIPELINE.read_text())
    errors = list(validator.iter_errors(document))
    assert not errors, [e.message[:300] for e in errors]

    broken = YAML(typ="base").load(PIPELINE.read_text())
    broken["stages"][1]["jobs"][0]["stepz"] = broken["stages"][1]["jobs"][0].pop("steps")
    assert list(validator.iter_errors(broken))


def test_task_json_files_are_the_tasks_the_pipeline_uses() -> None:
    used = set()
    for stage in load_pipeline(PIPELINE)["stages"]:
        for job in stage["jobs"]:
            used |= {s["task"] for s in job["steps"] if "task" in s}
    assert used == {"UsePythonVersion@0", "AzureCLI@2", "Docker@2", "Cache@2"}
    for directory, task in (
        ("AzureCLIV2", "AzureCLI@2"),
        ("DockerV2", "Docker@2"),
        ("CacheV2", "Cache@2"),
    ):
        definition = TaskDefinition.load(directory)
        assert f"{definition.name}@{definition.major}" == task


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ["Test", "Build", "Smoke"]),
        ({"Build.Reason": "PullRequest", "Build.SourceBranch": "refs/pull/7/merge"}, ["Test"]),
        ({"Build.SourceBranch": "refs/heads/feature/x"}, ["Test"]),
        (
            {"Build.Reason": "Schedule", "Build.CronSchedule.DisplayName": "Hourly promotion"},
            ["Promote"],
        ),
        (
            {"Build.Reason": "Schedule", "Build.CronSchedule.DisplayName": "Nightly release"},
            ["Release"],
        ),
        ({"Build.Reason": "Manual"}, ["Test", "Build", "Smoke"]),
    ],
)
def test_each_kind_of_run_starts_the_right_stages(
    source: Path, agent: Agent, acr: Acr, run_dir: Path, overrides: dict[str, str], expected
) -> None:
    groups = {"modelops-bot": {"GITHUB_TOKEN": ("t", True)}}
    runner = make_runner(
        source=source, agent=agent, work=run_dir, acr=acr, groups=groups, overrides=overrides
    )
    assert runner.plan() == expected


def test_conditions_follow_azure_semantics() -> None:
    ctx = Context({"Build.Reason": "Schedule", "x": "A"}, succeeded=True, failed=False)
    assert evaluate("eq(variables['build.reason'], 'schedule')", ctx)  # names, values: any case
    assert evaluate("and(succeeded(), ne(variables.x, 'b'), in(variables['x'], 'c', 'a'))", ctx)
    assert evaluate("eq(variables['undefined'], '')", ctx)
    assert not evaluate("or(failed(), eq('It''s', 'its'))", ctx)
    for bad in ("coalesce(variables.x, 'y')", "eq(variables['x'], 'a'", "succeeded('Build')"):
        with pytest.raises(ExpressionError):
            evaluate(bad, ctx)


def test_task_inputs_are_checked_against_task_json() -> None:
    docker = TaskDefinition.load("DockerV2")
    assert validate_inputs(docker, {})["command"] == "buildAndPush"  # task.json's default
    with pytest.raises(PipelineError, match="'arguments' is ignored by the task"):
        validate_inputs(docker, {"command": "buildAndPush", "arguments": "--build-arg A=b"})
    cli = TaskDefinition.load("AzureCLIV2")
    with pytest.raises(PipelineError, match="not one of"):
        validate_inputs(cli, {"azureSubscription": "c", "scriptType": "zsh"})
    resolved = validate_inputs(
        cli,
        {
            "azureSubscription": "c",
            "scriptType": "bash",
            "scriptLocation": "inlineScript",
            "inlineScript": "true",
        },
    )
    assert resolved["connectedServiceNameARM"] == "c"  # the alias resolves
    with pytest.raises(PipelineError, match="required input 'inlineScript'"):
        validate_inputs(
            cli, {"azureSubscription": "c", "scriptType": "bash", "scriptLocation": "inlineScript"}
        )
    with pytest.raises(PipelineError, match="required input 'connectedServiceNameARM'"):
        validate_inputs(cli, {"scriptType": "bash", "scriptPath": "x.sh"})
    with pytest.raises(PipelineError, match="unknown input 'inlinescipt'"):
        validate_inputs(cli, {"azureSubscription": "c", "inlinescipt": "x"})


def test_an_unknown_task_in_a_copy_of_the_pipeline_fails_naming_it(
    source: Path, agent: Agent, acr: Acr, run_dir: Path
) -> None:
    text = PIPELINE.read_text().replace("task: Docker@2", "task: Dockr@2", 1)
    assert "Dockr@2" in text
    copy = run_dir / "azure-pipelines.yml"
    copy.write_text(text)
    with pytest.raises(PipelineError, match=r"task 'Dockr@2' is not known to this runner"):
        make_runner(source=source, agent=agent, work=run_dir, acr=acr, pipeline=copy)

    text = PIPELINE.read_text().replace(
        "- checkout: self", "- checkout: self\n  - powershell: x", 1
    )
    copy.write_text(text.replace("  - powershell: x", "          - powershell: Get-Date"))
    with pytest.raises(PipelineError, match="step kind not supported"):
        make_runner(source=source, agent=agent, work=run_dir, acr=acr, pipeline=copy)


AGENT_PIPELINE = """
variables:
  - name: greeting
    value: hello
stages:
  - stage: One
    variables:
      - group: secrets
    jobs:
      - job: first
        steps:
          - checkout: none
          - script: |
              echo "user $(id -u)"
              echo "greeting=$GREETING macro=$(greeting) build=$BUILD_BUILDID"
              echo "token-in-env=${GROUP_TOKEN:-absent}"
              echo "token-by-macro=$(GROUP_TOKEN)"
              echo "##vso[task.setvariable variable=made]made-$(Build.BuildId)"
              echo "##vso[task.setvariable variable=minted;isSecret=true]s3cr3t-minted"
              echo "##vso[task.setvariable variable=out;isOutput=true]from-step"
              echo "##vso[task.logissue type=warning]careful with s3cr3t-minted"
            name: producer
            displayName: produce
          - script: |
              echo "made=$(made) env=$MADE out=$(producer.out)"
              echo "minted-env=${MINTED:-absent} mapped=$MAPPED"
              echo "group=$TOKEN"
              mkdir -p "$(Build.ArtifactStagingDirectory)/out"
              echo "artifact $(made)" > "$(Build.ArtifactStagingDirectory)/out/file.txt"
            displayName: consume
            env:
              MAPPED: $(minted)
              TOKEN: $(GROUP_TOKEN)
          - publish: $(Build.ArtifactStagingDirectory)/out
            artifact: out
          - script: sudo id -u
            displayName: with sudo
          - script: exit 3
            displayName: fails
          - script: echo never
            displayName: skipped after failure
          - script: echo "cleanup ran"
            displayName: always
            condition: always()
  - stage: Two
    dependsOn: One
    condition: failed()
    jobs:
      - job: second
        steps:
          - checkout: none
          - download: current
            artifact: out
          - publish: $(Pipeline.Workspace)/out
            artifact: again
          - script: cat "$(Pipeline.Workspace)/out/file.txt"; id -u
            displayName: read
"""


def test_steps_run_like_on_an_agent(source: Path, agent: Agent, acr: Acr, run_dir: Path) -> None:
    path = run_dir / "p.yml"
    path.write_text(textwrap.dedent(AGENT_PIPELINE))
    groups = {"secrets": {"GROUP_TOKEN": ("gr0up-t0ken", True)}}
    runner = make_runner(
        source=source, agent=agent, work=run_dir, acr=acr, pipeline=path, groups=groups
    )
    result = runner.run()
    one = result.job("One")
    produce = one.step("produce").log
    assert f"user {AGENT_UID}" in produce  # not root
    assert "greeting=hello macro=hello build=4711" in produce  # variables are env vars
    assert "token-in-env=absent" in produce  # a secret is not, unless mapped
    assert "token-by-macro=***" in produce  # a macro expands it, the log masks it
    consume = one.step("consume").log
    assert "made=made-4711 env=made-4711 out=from-step" in consume
    assert "minted-env=absent mapped=***" in consume
    assert "group=***" in consume
    assert one.issues[0].type == "warning"
    assert one.issues[0].message == "careful with ***"
    sudo = one.step("with sudo")
    assert sudo.as_root and sudo.log.strip() == "0"
    assert one.step("fails").result == "Failed"
    assert one.step("skipped after failure").result == "Skipped"
    assert "cleanup ran" in one.step("always").log
    assert result.stages == {"One": "Failed", "Two": "Succeeded"}
    read = result.job("Two").step("read").log
    assert "artifact made-4711" in read
    assert f"{AGENT_UID}" in read
    for secret in ("gr0up-t0ken", "s3cr3t-minted"):
        assert secret not in result.all_logs()


def test_a_misspelt_build_arg_fails_the_docker_build_step() -> None:
    from tests.pipelines.tasks import _build_args

    dockerfile = PIPELINE.parent / "Dockerfile"
    assert _build_args("--build-arg REVISION=abc --build-arg=VERSION=1", dockerfile) == [
        ("REVISION", "abc"),
        ("VERSION", "1"),
    ]
    with pytest.raises(PipelineError, match="REVISON is not an ARG of Dockerfile"):
        _build_args("--build-arg REVISON=abc", dockerfile)
    with pytest.raises(PipelineError, match="'--no-cache' is not supported"):
        _build_args("--no-cache", dockerfile)


def test_az_stand_in_answers_only_inside_an_azure_cli_session(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.pipelines.tasks import AZ_STANDIN

    def az(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin"} | ({"AZURE_CONFIG_DIR": str(config)} if config else {})
        return subprocess.run(
            [sys.executable, str(AZ_STANDIN), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    outside = az("acr", "show", "--name", "modelopsacr")
    assert outside.returncode == 1
    assert "Please run 'az login'" in outside.stderr
    (tmp_path / "standin-session.json").write_text(
        json.dumps(
            {
                "acrName": "modelopsacr",
                "loginServer": "127.0.0.1:5000",
                "token": "t0ken",
                "subscriptionId": "s",
                "subscription": "modelops",
            }
        )
    )
    shown = az(
        "acr", "show", "-n", "ModelopsACR", "--query", "loginServer", "-o", "tsv", config=tmp_path
    )
    assert shown.stdout == "127.0.0.1:5000\n"
    token = az(
        "acr",
        "login",
        "-n",
        "modelopsacr",
        "--expose-token",
        "--query",
        "accessToken",
        "-o",
        "tsv",
        config=tmp_path,
    )
    assert token.stdout == "t0ken\n"
    assert az("acr", "show", "-n", "otheracr", config=tmp_path).returncode == 3
    unknown = az("acr", "build", "-r", "modelopsacr", ".", config=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("ERROR: 'az acr build")
    assert "is not answered by the az stand-in" in unknown.stderr
    access = json.loads(
        az(
            "account",
            "get-access-token",
            "--resource",
            "https://storage.azure.com",
            config=tmp_path,
        ).stdout
    )
    claims = json.loads(
        base64.urlsafe_b64decode(access["accessToken"].split(".")[1] + "==").decode()
    )
    assert claims["aud"] == "https://storage.azure.com"
    assert claims["iss"].startswith("https://sts.windows.net/")


CACHE_PIPELINE = """
variables:
  - name: lock
    value: {lock}
stages:
  - stage: One
    jobs:
      - job: cached
        steps:
          - checkout: none
          - script: echo "$(lock)" > "$(Build.SourcesDirectory)/lock.txt"
            displayName: lock file
          - task: Cache@2
            displayName: cache
            inputs:
              key: 'parse | "$(Agent.OS)" | lock.txt'
              restoreKeys: |
                parse | "$(Agent.OS)"
              path: $(Pipeline.Workspace)/cache
              cacheHitVar: HIT
          - script: |
              echo "hit=$(HIT) had=$(cat "$(Pipeline.Workspace)/cache/n" 2>/dev/null || echo none)"
              mkdir -p "$(Pipeline.Workspace)/cache"
              echo "$(lock)" > "$(Pipeline.Workspace)/cache/n"
              test "$(lock)" != broken
            displayName: use
"""


def test_cache_restores_by_key_then_prefix_and_saves_only_after_a_successful_job(
    source: Path, agent: Agent, acr: Acr, run_dir: Path
) -> None:
    """Cache@2 as documented: exact key, else the newest cache of a restore-key prefix; the
    post-job step saves a new key only when the job succeeded (caches are immutable)."""
    store = run_dir / "store"

    def run(n: int, lock: str) -> tuple[str, str]:
        work = run_dir / f"run{n}"
        work.mkdir()
        path = work / "p.yml"
        path.write_text(textwrap.dedent(CACHE_PIPELINE.format(lock=lock)))
        runner = make_runner(
            source=source, agent=agent, work=work, acr=acr, pipeline=path, cache_dir=store
        )
        job = runner.run().job("One")
        return job.step("use").log.strip(), job.step("Post-job: cache").log

    used, saved = run(1, "a")
    assert used == "hit=false had=none" and "Cache saved" in saved
    used, saved = run(2, "a")
    assert used == "hit=true had=a" and "not saved" in saved
    used, saved = run(3, "broken")  # a new key, but the job fails: nothing saved
    assert used == "hit=inexact had=a" and saved == "the job did not succeed"
    used, saved = run(4, "b")
    assert used == "hit=inexact had=a" and "Cache saved" in saved
    used, _ = run(5, "c")
    assert used == "hit=inexact had=b"  # the newest cache of the prefix
