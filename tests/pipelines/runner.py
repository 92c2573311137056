"""Run `azure-pipelines.yml` stages the way an Azure DevOps agent does, on the local world.

What it does, in the agent's order: stages and jobs in `dependsOn` order with their `condition`
(default `succeeded()`); variables from the predefined set, the pipeline, the stage, the job and
the variable groups, `$(Macro)`-expanded in every input; each job gets a fresh workspace
(`$(Pipeline.Workspace)` with `s/`, `a/`, `b/`), `checkout: self` clones the source repository
at `Build.SourceVersion`; `script`/`bash` steps run with `bash --noprofile --norc` as a non-root
user (uid AGENT_UID, like a hosted agent's) unless the step itself uses `sudo`; every non-secret
variable is exported as an environment variable, secrets only through a step's `env:`; the
`##vso[task.setvariable]`, `[task.setsecret]`, `[task.logissue]` and `[task.complete]` logging
commands are obeyed; secrets are masked in every log; `publish`/`download` move artifacts
between stages; each `task:` runs its stand-in (see tasks.py), inputs checked against the real
task.json. Anything else is a PipelineError naming it, never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.pipelines import cache_task
from tests.pipelines.cache_task import PendingSave
from tests.pipelines.expressions import Context, ExpressionError, evaluate
from tests.pipelines.variables import (
    LoggingCommand,
    PipelineError,
    Variables,
    as_bool,
    expand,
    mask,
    parse_logging_command,
)

AGENT_UID = 1001  # Microsoft-hosted Ubuntu agents run steps as uid 1001
PIPELINE_KEYS = {"trigger", "pr", "schedules", "variables", "pool", "stages", "name"}
STAGE_KEYS = {"stage", "displayName", "dependsOn", "condition", "jobs", "variables", "pool"}
JOB_KEYS = {
    "job",
    "displayName",
    "dependsOn",
    "condition",
    "steps",
    "variables",
    "pool",
    "timeoutInMinutes",
}
STEP_COMMON = {"displayName", "name", "condition", "env", "timeoutInMinutes", "enabled"}
STEP_KEYS = {
    "script": STEP_COMMON | {"workingDirectory", "failOnStderr"},
    "bash": STEP_COMMON | {"workingDirectory", "failOnStderr"},
    "checkout": STEP_COMMON | {"fetchDepth", "clean", "fetchTags"},
    "task": STEP_COMMON | {"inputs", "continueOnError"},
    "publish": STEP_COMMON | {"artifact"},
    "download": STEP_COMMON | {"artifact", "patterns"},
}


@dataclass(frozen=True)
class ServiceConnection:
    """A service connection the project would have: `azurerm` (workload identity federation)
    or `dockerregistry` (an ACR). `data` is what the stand-ins need (registry host, token)."""

    name: str
    kind: str
    data: Mapping[str, str]


@dataclass
class Agent:
    """The machine a job runs on: a non-root user with a persistent home (a self-hosted agent's
    home keeps caches), the Python versions of its tool cache, what is on PATH besides /usr/bin,
    and the machine-wide environment (e.g. pip's index configuration)."""

    home: Path
    uid: int = AGENT_UID
    tools: Mapping[str, Path] = field(default_factory=dict)  # "3.11" -> python executable
    path: Sequence[Path] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    # A self-hosted agent's `_work/1`: every job of the pipeline on this agent uses it, and the
    # checkout in `s/` keeps its untracked files (e.g. .venv) between runs, as `clean: false`
    # (the default) does; `a/`, `b/` and `_temp/` are emptied for each job. None: a fresh
    # workspace per job, like a Microsoft-hosted agent.
    workspace: Path | None = None


@dataclass
class Issue:
    type: str
    message: str


@dataclass
class StepResult:
    name: str
    result: str  # Succeeded | Failed | Skipped
    log: str
    exit_code: int | None = None
    as_root: bool = False
    seconds: float = 0.0


@dataclass
class JobResult:
    stage: str
    job: str
    result: str
    steps: list[StepResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    variables: Variables = field(default_factory=Variables)

    def step(self, display_name: str) -> StepResult:
        for step in self.steps:
            if step.name == display_name:
                return step
        raise KeyError(f"no step {display_name!r} in {[s.name for s in self.steps]}")


@dataclass
class RunResult:
    stages: dict[str, str] = field(default_factory=dict)  # stage -> result
    jobs: list[JobResult] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)

    def job(self, stage: str, job: str | None = None) -> JobResult:
        for found in self.jobs:
            if found.stage == stage and (job is None or found.job == job):
                return found
        raise KeyError(f"no job {stage}.{job} ran")

    def all_logs(self) -> str:
        return "\n".join(s.log for j in self.jobs for s in j.steps)

    def explain(self) -> str:
        lines = [f"stages: {self.stages}"]
        for job in self.jobs:
            lines.append(f"== {job.stage}.{job.job}: {job.result}")
            for step in job.steps:
                lines.append(
                    f"-- {step.name}: {step.result} (exit {step.exit_code}, {step.seconds:.1f}s)"
                )
                if step.result == "Failed":
                    lines.append(step.log[-4000:])
        return "\n".join(lines)


def load_pipeline(path: Path) -> dict[str, Any]:
    """Every scalar a string, as Azure DevOps' own YAML reader sees them."""
    doc = YAML(typ="base").load(path.read_text())
    if not isinstance(doc, dict):
        raise PipelineError(f"{path}: not a YAML mapping")
    unknown = set(doc) - PIPELINE_KEYS
    if unknown:
        raise PipelineError(f"{path}: top-level keys not supported by this runner: {unknown}")
    return doc


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if value == "[]":
        return []
    return [value]


class Runner:
    def __init__(
        self,
        pipeline: Path,
        *,
        source: Path,
        agent: Agent,
        work: Path,
        predefined: Mapping[str, str],
        variable_groups: Mapping[str, Mapping[str, tuple[str, bool]]] = {},
        service_connections: Sequence[ServiceConnection] = (),
        cache_dir: Path | None = None,
    ) -> None:
        self.path = pipeline
        self.doc = load_pipeline(pipeline)
        self.source = source
        self.agent = agent
        self.work = work
        self.predefined = dict(predefined)
        self.groups = variable_groups
        self.connections = {c.name.lower(): c for c in service_connections}
        self.artifacts_dir = work / "artifacts"
        # Cache@2's store (pipeline caching): hand the same one to a later run to restore
        self.cache_dir = cache_dir or work / "pipeline-cache"
        self.compile()

    def compile(self) -> None:
        """What Azure DevOps checks before a run starts: every step is of a known kind with
        known keys, and every task exists (here: has a stand-in) with inputs its task.json
        accepts by name. A pipeline that fails this runs nothing."""
        from tests.pipelines.tasks import check_task_reference

        for stage in self.doc.get("stages", []):
            for job in stage.get("jobs", []):
                for index, step in enumerate(job.get("steps", [])):
                    where = f"stage {stage.get('stage')} job {job.get('job')} step {index + 1}"
                    kinds = [k for k in STEP_KEYS if k in step]
                    if len(kinds) != 1:
                        raise PipelineError(
                            f"{where}: step kind not supported by this runner: {sorted(step)}"
                        )
                    unknown = set(step) - STEP_KEYS[kinds[0]] - {kinds[0]}
                    if unknown:
                        raise PipelineError(f"{where} ({kinds[0]}): keys not supported: {unknown}")
                    if kinds[0] == "task":
                        check_task_reference(str(step["task"]), step.get("inputs") or {}, where)

    # ------------------------------------------------------------------ variables

    def _scope_variables(self, spec: Any, into: Variables, where: str) -> None:
        for item in _as_list(spec):
            if isinstance(item, dict) and "group" in item:
                group = self.groups.get(item["group"])
                if group is None:
                    raise PipelineError(f"{where}: variable group {item['group']!r} not found")
                for name, (value, secret) in group.items():
                    into.set(name, value, secret=secret)
            elif isinstance(item, dict) and "name" in item:
                extra = set(item) - {"name", "value", "readonly"}
                if extra:
                    raise PipelineError(f"{where}: variable keys not supported: {extra}")
                into.set(item["name"], expand(str(item.get("value", "")), into))
            elif isinstance(item, dict) and "template" in item:
                raise PipelineError(f"{where}: variable templates are not supported")
            elif isinstance(spec, dict):
                break
            else:
                raise PipelineError(f"{where}: variables entry not understood: {item!r}")
        if isinstance(spec, dict):
            for name, value in spec.items():
                into.set(name, str(value))

    def _base_variables(self) -> Variables:
        variables = Variables()
        for name, value in self.predefined.items():
            secret = name.lower() == "system.accesstoken"
            variables.set(name, value, secret=secret)
        self._scope_variables(self.doc.get("variables"), variables, "pipeline")
        return variables

    # ------------------------------------------------------------------ stages and jobs

    def plan(self) -> list[str]:
        """The stages this run's variables would start, every job assumed to succeed (what
        the conditions decide, nothing executed)."""
        return [
            name
            for name, outcome in self.run(_execute=False).stages.items()
            if outcome == "Succeeded"
        ]

    def run(self, stages: Sequence[str] | None = None, *, _execute: bool = True) -> RunResult:
        """Run the pipeline's stages (only `stages`, like "Stages to run" at queue time: a
        stage not selected is left out of its dependents' `dependsOn`)."""
        declared = [s["stage"] for s in self.doc.get("stages", [])]
        for wanted in stages or ():
            if wanted not in declared:
                raise PipelineError(f"no stage {wanted!r} in {self.path.name}: {declared}")
        selected = list(stages) if stages else declared
        result = RunResult(artifacts={})
        base = self._base_variables()
        by_name = {s["stage"]: s for s in self.doc["stages"]}
        previous: str | None = None
        for name in declared:
            stage = by_name[name]
            unknown = set(stage) - STAGE_KEYS
            if unknown:
                raise PipelineError(f"stage {name}: keys not supported by this runner: {unknown}")
            if "dependsOn" in stage:
                deps = _as_list(stage["dependsOn"])
            else:
                deps = [previous] if previous else []
            previous = name
            if name not in selected:
                continue
            deps = [d for d in deps if d in selected]
            for dep in deps:
                if dep not in result.stages:
                    raise PipelineError(f"stage {name} depends on unknown stage {dep!r}")
            ok = all(result.stages[d] == "Succeeded" for d in deps)
            failed = any(result.stages[d] == "Failed" for d in deps)
            variables = base.copy()
            self._scope_variables(stage.get("variables"), variables, f"stage {name}")
            condition = str(stage.get("condition", "succeeded()"))
            if not self._condition(condition, variables, ok, failed, f"stage {name}"):
                result.stages[name] = "Skipped"
                continue
            if not _execute:
                result.stages[name] = "Succeeded"
                continue
            result.stages[name] = self._run_stage(stage, variables, result)
        return result

    def _condition(
        self, condition: str, variables: Variables, ok: bool, failed: bool, where: str
    ) -> bool:
        try:
            return evaluate(condition, Context(variables.plain(), succeeded=ok, failed=failed))
        except ExpressionError as exc:
            raise PipelineError(f"{where}: {exc}") from None

    def _run_stage(self, stage: dict[str, Any], variables: Variables, result: RunResult) -> str:
        outcome: dict[str, str] = {}
        for job in stage["jobs"]:
            if "job" not in job:
                kinds = set(job) & {"deployment", "template"}
                raise PipelineError(
                    f"stage {stage['stage']}: job kind not supported by this runner: "
                    f"{kinds or set(job)}"
                )
            unknown = set(job) - JOB_KEYS
            if unknown:
                raise PipelineError(
                    f"job {job['job']}: keys not supported by this runner: {unknown}"
                )
            deps = _as_list(job["dependsOn"]) if "dependsOn" in job else []
            job_vars = variables.copy()
            self._scope_variables(job.get("variables"), job_vars, f"job {job['job']}")
            ok = all(outcome.get(d) == "Succeeded" for d in deps)
            failed = any(outcome.get(d) == "Failed" for d in deps)
            condition = str(job.get("condition", "succeeded()"))
            if not self._condition(condition, job_vars, ok, failed, f"job {job['job']}"):
                outcome[job["job"]] = "Skipped"
                continue
            job_result = Job(self, stage["stage"], job, job_vars, result).run()
            result.jobs.append(job_result)
            outcome[job["job"]] = job_result.result
        return "Failed" if "Failed" in outcome.values() else "Succeeded"


class StepFailedError(Exception):
    """A step (or task stand-in) failed; the message goes to the step's log."""


class Job:
    """One job on a fresh agent workspace."""

    def __init__(
        self,
        runner: Runner,
        stage: str,
        spec: dict[str, Any],
        variables: Variables,
        run: RunResult,
    ) -> None:
        self.runner = runner
        self.agent = runner.agent
        self.stage = stage
        self.spec = spec
        self.run_result = run
        self.name = spec["job"]
        self.workspace = runner.agent.workspace or runner.work / f"{stage}.{self.name}"
        self.sources = self.workspace / "s"
        self.staging = self.workspace / "a"
        self.temp = self.workspace / "_temp"
        self.variables = variables
        self.path_prepend: list[Path] = []  # ##vso[task.prependpath] and UsePythonVersion
        self.result = JobResult(stage, self.name, "Succeeded", variables=variables)
        self.extra_secrets: list[str] = []
        self.docker_logins: dict[str, str] = {}  # login server -> token (Docker@2 login)
        self._env_of_current: dict[str, str] = {}  # the running task step's `env:`
        self.post_job: list[PendingSave] = []  # Cache@2 steps that ran, saved after the job

    # ------------------------------------------------------------------ agent plumbing

    def secrets(self) -> list[str]:
        return self.variables.secrets() + self.extra_secrets

    def _prepare(self) -> None:
        kept = [self.sources] if self.agent.workspace else []
        if self.workspace.exists():
            for child in self.workspace.iterdir():
                if child not in kept:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        for path in (self.sources, self.staging, self.workspace / "b", self.temp):
            path.mkdir(parents=True, exist_ok=True)
        for path in (self.workspace, self.sources, self.staging, self.workspace / "b", self.temp):
            os.chown(path, self.agent.uid, self.agent.uid)
        ws = str(self.workspace)
        for name, value in {
            "Pipeline.Workspace": ws,
            "Agent.BuildDirectory": ws,
            "Build.SourcesDirectory": str(self.sources),
            "System.DefaultWorkingDirectory": str(self.sources),
            "Build.Repository.LocalPath": str(self.sources),
            "Build.ArtifactStagingDirectory": str(self.staging),
            "Build.StagingDirectory": str(self.staging),
            "Build.BinariesDirectory": str(self.workspace / "b"),
            "Agent.TempDirectory": str(self.temp),
            "System.StageName": self.stage,
            "System.JobName": self.name,
            "Agent.JobName": self.name,
        }.items():
            self.variables.set(name, value)

    def environment(self, step_env: Mapping[str, str]) -> dict[str, str]:
        """What a step's process sees: the agent's machine environment, every non-secret
        variable, then the step's own `env:` (the only way a secret gets in)."""
        path = [str(p) for p in self.path_prepend] + [str(p) for p in self.agent.path]
        path += ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        env = {
            "HOME": str(self.agent.home),
            "USER": "vsts",
            "LOGNAME": "vsts",
            "LANG": "C.UTF-8",
            "PATH": ":".join(path),
            "TF_BUILD": "True",
            "AGENT_TEMPDIRECTORY": str(self.temp),
            **self.agent.environment,
        }
        env.update(self.variables.environment())
        env.update(step_env)
        return env

    def execute(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        as_root: bool = False,
        timeout: float = 1200,
    ) -> tuple[int, str]:
        """Run a process as the agent user (or root), scanning its output for logging
        commands; returns (exit code, masked log)."""
        prefix: list[str] = []
        if not as_root:
            uid = str(self.agent.uid)
            prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        proc = subprocess.Popen(
            [*prefix, *argv],
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                try:
                    command = parse_logging_command(line)
                    if command is not None:
                        self.obey(command)
                except (PipelineError, StepFailedError) as exc:
                    lines.append(f"##[error]{exc}\n")
                    self.completed = "Failed"
                lines.append(mask(line, self.secrets()))
                if time.monotonic() > deadline:
                    os.killpg(proc.pid, 9)
                    lines.append(f"##[error]step timed out after {timeout:.0f}s\n")
                    break
        code = proc.wait()
        return code, "".join(lines)

    def obey(self, command: LoggingCommand) -> None:
        kind = f"{command.area}.{command.action}"
        props = command.properties
        if kind == "task.setvariable":
            name = props.get("variable")
            if not name:
                raise StepFailedError("##vso[task.setvariable] without variable=")
            secret = as_bool(props.get("issecret"))
            if secret and command.data:
                self.extra_secrets.append(command.data)
            read_only = as_bool(props.get("isreadonly"))
            self.variables.set(name, command.data, secret=secret, read_only=read_only)
            if as_bool(props.get("isoutput")):
                step = self.current_step_name
                if not step:
                    raise StepFailedError(f"isOutput=true for {name} needs a step with a name:")
                self.variables.set(f"{step}.{name}", command.data, secret=secret)
        elif kind == "task.setsecret":
            self.extra_secrets.append(command.data)
        elif kind == "task.logissue":
            issue_type = props.get("type", "")
            if issue_type not in ("error", "warning"):
                raise StepFailedError(
                    f"##vso[task.logissue] type must be error or warning: {props}"
                )
            self.result.issues.append(Issue(issue_type, mask(command.data, self.secrets())))
        elif kind == "task.complete":
            self.completed = props.get("result", "Succeeded")
        elif kind == "task.prependpath":
            self.path_prepend.insert(0, Path(command.data))
        else:
            raise StepFailedError(f"logging command ##vso[{kind}] is not supported by this runner")

    # ------------------------------------------------------------------ steps

    current_step_name: str | None = None
    completed: str | None = None

    def run(self) -> JobResult:
        self._prepare()
        ok = True
        for index, step in enumerate(self.spec["steps"]):
            kinds = [k for k in STEP_KEYS if k in step]
            if len(kinds) != 1:
                known = set(STEP_KEYS)
                raise PipelineError(
                    f"job {self.name} step {index + 1}: step kind not supported by this runner: "
                    f"{sorted(set(step) - known - STEP_COMMON) or sorted(step)}"
                )
            kind = kinds[0]
            unknown = set(step) - STEP_KEYS[kind] - {kind}
            if unknown:
                raise PipelineError(
                    f"job {self.name} step {index + 1} ({kind}): keys not supported: {unknown}"
                )
            display = str(step.get("displayName") or self._default_name(kind, step))
            if not as_bool(step.get("enabled", "true")):
                self.result.steps.append(StepResult(display, "Skipped", "disabled"))
                continue
            condition = str(step.get("condition", "succeeded()"))
            try:
                run_it = evaluate(
                    condition, Context(self.variables.plain(), succeeded=ok, failed=not ok)
                )
            except ExpressionError as exc:
                raise PipelineError(f"step {display}: {exc}") from None
            if not run_it:
                self.result.steps.append(StepResult(display, "Skipped", ""))
                continue
            self.current_step_name = step.get("name")
            self.completed = None
            started = time.monotonic()
            step_result = self._run_step(kind, step, display)
            step_result.seconds = time.monotonic() - started
            if self.completed == "Failed":
                step_result.result = "Failed"
            self.result.steps.append(step_result)
            if step_result.result == "Failed":
                continue_on_error = as_bool(step.get("continueOnError"))
                ok = ok and continue_on_error
        for pending in reversed(self.post_job):  # post-job steps run in reverse order
            if ok:
                self.result.steps.append(cache_task.save(self, pending))
            else:
                name = f"Post-job: {pending.display}"
                self.result.steps.append(StepResult(name, "Skipped", "the job did not succeed"))
        self.result.result = "Succeeded" if ok else "Failed"
        return self.result

    def chown_tree(self, path: Path) -> None:
        for each in [path, *path.rglob("*")]:
            os.chown(each, self.agent.uid, self.agent.uid)

    @staticmethod
    def _default_name(kind: str, step: dict[str, Any]) -> str:
        if kind in ("script", "bash"):
            return f"{kind.capitalize()}: {str(step[kind]).splitlines()[0][:40]}"
        return f"{kind}: {step[kind]}"

    def _step_env(self, step: dict[str, Any]) -> dict[str, str]:
        raw = step.get("env") or {}
        if not isinstance(raw, dict):
            raise PipelineError(f"env: must be a mapping, got {raw!r}")
        return {str(k): expand(str(v), self.variables) for k, v in raw.items()}

    def _run_step(self, kind: str, step: dict[str, Any], display: str) -> StepResult:
        from tests.pipelines import tasks

        try:
            if kind in ("script", "bash"):
                return self._script(step, kind, display)
            if kind == "checkout":
                return self._checkout(step, display)
            if kind == "publish":
                inputs = {"targetPath": step["publish"], "artifactName": step.get("artifact", "")}
                return tasks.run_task(self, "PublishPipelineArtifact@1", inputs, step, display)
            if kind == "download":
                if step["download"] != "current":
                    raise PipelineError(f"download: {step['download']} (only 'current')")
                inputs = {"buildType": "current", "artifactName": step.get("artifact", "")}
                return tasks.run_task(self, "DownloadPipelineArtifact@2", inputs, step, display)
            return tasks.run_task(self, str(step["task"]), step.get("inputs") or {}, step, display)
        except StepFailedError as exc:
            return StepResult(display, "Failed", mask(f"##[error]{exc}\n", self.secrets()))

    def uses_sudo(self, text: str) -> bool:
        import re

        return re.search(r"(^|[\s;&|(])sudo\s", text) is not None

    def run_bash(
        self, script: str, display: str, step_env: Mapping[str, str], cwd: Path
    ) -> StepResult:
        """A bash script as the agent runs one: a file under Agent.TempDirectory, `bash
        --noprofile --norc file`; as root only when the script itself says `sudo`."""
        as_root = self.uses_sudo(script)
        path = self.temp / f"{len(self.result.steps)}.sh"
        path.write_text(script)
        os.chown(path, self.agent.uid, self.agent.uid)
        env = self.environment(step_env)
        if as_root:
            shim = self.runner.work / "sudo-shim"
            shim.mkdir(exist_ok=True)
            (shim / "sudo").write_text(SUDO_SHIM)
            (shim / "sudo").chmod(0o755)
            env["PATH"] = f"{shim}:{env['PATH']}"
        code, log = self.execute(
            ["bash", "--noprofile", "--norc", str(path)], env=env, cwd=cwd, as_root=as_root
        )
        return StepResult(display, "Succeeded" if code == 0 else "Failed", log, code, as_root)

    def _script(self, step: dict[str, Any], kind: str, display: str) -> StepResult:
        script = expand(str(step[kind]), self.variables)
        cwd = Path(expand(str(step.get("workingDirectory", self.sources)), self.variables))
        if as_bool(step.get("failOnStderr")):
            raise PipelineError(f"step {display}: failOnStderr is not supported by this runner")
        return self.run_bash(script, display, self._step_env(step), cwd)

    def _checkout(self, step: dict[str, Any], display: str) -> StepResult:
        target = step["checkout"]
        if target == "none":
            return StepResult(display, "Succeeded", "checkout: none")
        if target != "self":
            raise PipelineError(f"checkout: {target} (only 'self' and 'none' are supported)")
        depth = int(step.get("fetchDepth", "1"))  # new pipelines default to a shallow fetch
        revision = self.variables.get("Build.SourceVersion") or ""
        script = "\n".join(
            [
                "set -eu",
                "git init -q .",
                "git remote remove origin 2>/dev/null || true",
                f"git remote add origin 'file://{self.runner.source}'",
                f"git fetch -q {'--depth=' + str(depth) if depth else ''} origin "
                f"'+{self.variables.get('Build.SourceBranch')}:refs/remotes/origin/"
                f"{(self.variables.get('Build.SourceBranchName') or 'main')}' {revision}",
                f"git checkout -q --detach {revision}",
                "git log -1 --format='checked out %H'",
            ]
        )
        return self.run_bash(script, display, {}, self.sources)


# `sudo` on the agent: passwordless, as on hosted agents. The runner runs a step that uses sudo
# as root, so the shim only strips sudo's own options and `VAR=value` assignments.
SUDO_SHIM = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -E|-H|-n|--preserve-env|--preserve-env=*) shift ;;
    -*) echo "sudo stand-in: option $1 not supported" >&2; exit 1 ;;
    *) break ;;
  esac
done
exec env "$@"
"""
