"""Stand-ins for the Azure Pipelines tasks this project's YAML uses.

Each task's inputs are first checked against the task's real `task.json` (testdata/tasks/,
copied from microsoft/azure-pipelines-tasks; see testdata/SOURCES.md): input names and aliases,
required inputs (taking `visibleRule` into account), pick-list values, booleans. An input the
real task would silently ignore (not visible under its `visibleRule`) is an error here, so a
mistake such as `arguments:` with Docker@2 `buildAndPush` is caught. Then the stand-in does
what the task does, on the local world:

- UsePythonVersion@0: puts the agent tool cache's matching Python first on PATH.
- AzureCLI@2: runs the inline bash script with the `az` stand-in (az_standin.py) on PATH,
  logged in through the `azurerm` service connection (a session dir in AZURE_CONFIG_DIR).
- Docker@2 login/build/push: what the Docker daemon of a hosted agent would do, with buildah
  (as root, like the daemon) on the project's image storage; the registry is the service
  connection's; the base image `python:3.11-slim` (Docker Hub, unreachable here) is replaced by
  the local Debian bookworm base (python 3.11) made by scripts/build_image.py.
- Cache@2: restores at the step and saves after a successful job (tests/pipelines/cache_task.py).
- PublishPipelineArtifact@1 / DownloadPipelineArtifact@2: copy a directory into the run's
  artifact store and back into `$(Pipeline.Workspace)/<name>`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.pipelines.variables import PipelineError, expand, mask

if TYPE_CHECKING:
    from tests.pipelines.runner import Job, StepResult

TESTDATA = Path(__file__).resolve().parent / "testdata"
AZ_STANDIN = Path(__file__).resolve().parent / "az_standin.py"


# --- task.json ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskDefinition:
    name: str
    major: int
    inputs: list[dict[str, Any]]

    @classmethod
    def load(cls, directory: str) -> TaskDefinition:
        data = json.loads((TESTDATA / "tasks" / directory / "task.json").read_text())
        return cls(data["name"], int(data["version"]["Major"]), data["inputs"])

    def canonical(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for spec in self.inputs:
            for alias in [spec["name"], *(spec.get("aliases") or [])]:
                names[alias.lower()] = spec["name"]
        return names


def _visible(rule: str | None, values: Mapping[str, str]) -> bool:
    if not rule:
        return True
    lowered = {k.lower(): v for k, v in values.items()}
    for alternative in rule.split("||"):
        clauses = [c.strip() for c in alternative.split("&&")]
        if all(_clause(c, lowered) for c in clauses):
            return True
    return False


def _clause(clause: str, values: Mapping[str, str]) -> bool:
    match = re.fullmatch(r"(\w+)\s*(==|!=|=)\s*(.*)", clause)
    if not match:
        raise PipelineError(f"task.json visibleRule clause not understood: {clause!r}")
    actual = values.get(match[1].lower(), "").lower()
    expected = match[3].strip().lower()
    return actual != expected if match[2] == "!=" else actual == expected


def validate_inputs(definition: TaskDefinition, given: Mapping[str, Any]) -> dict[str, str]:
    """The task's resolved inputs (canonical names, defaults filled in), or PipelineError."""
    task = f"{definition.name}@{definition.major}"
    names = definition.canonical()
    values: dict[str, str] = {}
    for key, value in given.items():
        canonical = names.get(str(key).lower())
        if canonical is None:
            known = sorted(s["name"] for s in definition.inputs)
            raise PipelineError(f"{task}: unknown input {key!r} (task.json inputs: {known})")
        if canonical in values:
            raise PipelineError(f"{task}: input {canonical!r} given twice (alias {key!r})")
        values[canonical] = str(value)
    resolved = dict(values)
    for spec in definition.inputs:
        default = spec.get("defaultValue")
        if spec["name"] not in resolved and default not in (None, ""):
            resolved[spec["name"]] = str(default)
    for spec in definition.inputs:
        name = spec["name"]
        visible = _visible(spec.get("visibleRule"), resolved)
        if name in values and not visible:
            raise PipelineError(
                f"{task}: input {name!r} is ignored by the task when not "
                f"({spec['visibleRule']}); remove it or change the command"
            )
        if not visible:
            resolved.pop(name, None)
            continue
        value = resolved.get(name, "")
        if spec.get("required") and value == "":
            raise PipelineError(f"{task}: required input {name!r} is missing")
        options = spec.get("options") or {}
        editable = str((spec.get("properties") or {}).get("EditableOptions", "")).lower()
        if value and options and editable != "true" and value not in options:
            raise PipelineError(f"{task}: input {name}={value!r} is not one of {sorted(options)}")
        if value and spec["type"] == "boolean" and value.lower() not in ("true", "false"):
            raise PipelineError(f"{task}: input {name}={value!r} is not a boolean")
    return resolved


# --- the stand-ins ------------------------------------------------------------------------------


Handler = Callable[["Job", dict[str, str], str], "StepResult"]


def _use_python(job: Job, inputs: dict[str, str], display: str) -> StepResult:
    from tests.pipelines.runner import StepResult

    spec = inputs["versionSpec"]
    if inputs.get("architecture", "x64") != "x64":
        raise PipelineError(f"UsePythonVersion@0: architecture {inputs['architecture']} n/a")
    for version, python in job.agent.tools.items():
        if re.fullmatch(re.escape(spec).replace(r"\.x", r"\.\d+") + r"(\.\d+)?", version):
            bin_dir = job.temp / f"python-{version}"
            bin_dir.mkdir(exist_ok=True)
            for name in ("python", "python3", f"python{version}"):
                link = bin_dir / name
                if not link.exists():
                    link.symlink_to(python)
            if inputs.get("addToPath", "true").lower() == "true":
                job.path_prepend.insert(0, bin_dir)
            job.variables.set("pythonLocation", str(bin_dir))
            return StepResult(display, "Succeeded", f"Found tool in cache: Python {version}\n")
    raise PipelineError(
        f"UsePythonVersion@0: no Python {spec} in the agent's tool cache {sorted(job.agent.tools)}"
    )


def _connection(job: Job, name: str, kind: str, task: str) -> Mapping[str, str]:
    found = job.runner.connections.get(name.lower())
    if found is None:
        raise PipelineError(f"{task}: service connection {name!r} not found")
    if found.kind != kind:
        raise PipelineError(f"{task}: service connection {name!r} is {found.kind}, not {kind}")
    return found.data


def _azure_cli(job: Job, inputs: dict[str, str], display: str) -> StepResult:
    connection = _connection(job, inputs["connectedServiceNameARM"], "azurerm", "AzureCLI@2")
    if inputs["scriptType"] != "bash":
        raise PipelineError(f"AzureCLI@2: scriptType {inputs['scriptType']} (only bash here)")
    if inputs["scriptLocation"] != "inlineScript":
        raise PipelineError("AzureCLI@2: only scriptLocation inlineScript is supported here")
    for unsupported in ("addSpnToEnvironment", "useGlobalConfig", "failOnStandardError"):
        if inputs.get(unsupported, "false").lower() == "true":
            raise PipelineError(f"AzureCLI@2: {unsupported}: true is not supported here")
    # `az login --federated-token ...` as the task does: a session dir for this step only.
    config = job.temp / ".azclitask"
    config.mkdir(exist_ok=True)
    (config / "standin-session.json").write_text(json.dumps(dict(connection)))
    os.chown(config, job.agent.uid, job.agent.uid)
    os.chown(config / "standin-session.json", job.agent.uid, job.agent.uid)
    secrets = [v for k, v in connection.items() if k.endswith("token")]
    job.extra_secrets.extend(secrets)
    bin_dir = job.runner.work / "az-bin"
    bin_dir.mkdir(exist_ok=True)
    az = bin_dir / "az"
    az.write_text(f'#!/bin/sh\nexec /usr/bin/python3 {AZ_STANDIN} "$@"\n')
    az.chmod(0o755)
    script = inputs["inlineScript"]
    arguments = inputs.get("scriptArguments", "")
    if arguments:
        raise PipelineError("AzureCLI@2: scriptArguments with an inline script is not supported")
    cwd = Path(inputs.get("cwd") or job.sources)
    env = {"AZURE_CONFIG_DIR": str(config), "AZ_STANDIN_PATH": str(bin_dir)}
    saved = list(job.path_prepend)
    job.path_prepend.insert(0, bin_dir)
    try:
        login = "az login --service-principal --federated-token *** (workload identity)\n"
        result = job.run_bash(script, display, {**env, **job._env_of_current}, cwd)
        result.log = login + result.log
        return result
    finally:
        job.path_prepend[:] = saved
        shutil.rmtree(config, ignore_errors=True)


@dataclass
class _Docker:
    """One Docker@2 step against the registry of its service connection."""

    job: Job
    command: str
    login_server: str
    token: str
    storage: Path  # the "daemon's" image store, shared across jobs
    refs: list[str]

    def buildah(self, *args: str, what: str) -> str:
        from scripts.build_image import storage_args

        argv = ["buildah", *storage_args(self.storage), *args]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise _DockerFailedError(
                f"Docker@2 {self.command}: {what} failed (exit {done.returncode}):\n{tail}"
            )
        return done.stdout

    def build(self, inputs: dict[str, str]) -> str:
        from scripts.build_image import ensure_base

        job = self.job
        dockerfile = job.sources / inputs["Dockerfile"]
        context = inputs.get("buildContext") or "**"
        context_dir = dockerfile.parent if context == "**" else job.sources / context
        build_args = _build_args(inputs.get("arguments", ""), dockerfile)
        with _storage_lock(self.storage):
            base = ensure_base(self.storage)
        argv = ["bud", "--isolation", "chroot", "--format", "docker"]
        argv += ["--pull=never", "--layers=false", "--quiet"]
        argv += ["--build-arg", f"BASE_IMAGE={base}"]
        for key, value in build_args:
            argv += ["--build-arg", f"{key}={value}"]
        if inputs.get("addPipelineData", "true") == "true":
            for label, variable in PIPELINE_LABELS.items():
                argv += ["--label", f"{label}={job.variables.get(variable) or ''}"]
        for ref in self.refs:
            argv += ["--tag", ref]
        argv += ["--file", str(dockerfile), str(context_dir)]
        return f"buildah bud (docker build) {' '.join(self.refs)}\n" + self.buildah(
            *argv, what="docker build"
        )

    def push(self) -> str:
        from scripts.build_image import tls_verify_flag

        job = self.job
        if self.login_server not in job.docker_logins:
            raise _DockerFailedError(f"Docker@2 push: not logged in to {self.login_server}")
        output = job.temp / f"docker-push-{len(job.result.steps)}.txt"
        lines = []
        for ref in self.refs:
            digest_file = job.temp / "push-digest"
            self.buildah(
                "push",
                "--quiet",
                tls_verify_flag(self.login_server),
                "--creds",
                f"00000000-0000-0000-0000-000000000000:{job.docker_logins[self.login_server]}",
                "--digestfile",
                str(digest_file),
                ref,
                f"docker://{ref}",
                what=f"push {ref}",
            )
            digest = digest_file.read_text().strip()
            lines.append(f"{ref.rsplit(':', 1)[1]}: digest: {digest} size: 0\n")
            self.buildah("rmi", ref, what=f"rmi {ref}")
        output.write_text("".join(lines))
        job.variables.set("DockerOutput", str(output))
        return "".join(lines)


def _docker(job: Job, inputs: dict[str, str], display: str) -> StepResult:
    from tests.pipelines.runner import StepResult

    command = inputs["command"]
    registry_name = inputs.get("containerRegistry", "")
    if not registry_name:
        raise PipelineError(f"Docker@2 {command}: containerRegistry is required here")
    if command not in ("login", "build", "push"):
        raise PipelineError(f"Docker@2: command {command!r} is not supported by this runner")
    if command == "build" and not inputs.get("repository"):
        raise PipelineError("Docker@2 build: repository is required")
    registry = _connection(job, registry_name, "dockerregistry", "Docker@2")
    tags = [t.strip() for t in re.split(r"[\n,]", inputs.get("tags", "")) if t.strip()]
    tags = tags or [job.variables.get("Build.BuildId") or ""]
    repository = inputs.get("repository", "")
    docker = _Docker(
        job,
        command,
        registry["loginServer"],
        registry["token"],
        Path(registry["storage"]),
        [f"{registry['loginServer']}/{repository}:{tag}" for tag in tags],
    )
    try:
        if command == "login":
            job.docker_logins[docker.login_server] = docker.token
            log = f"Logged in to {docker.login_server} (service connection {registry_name})\n"
        elif command == "build":
            log = docker.build(inputs)
        else:
            log = docker.push()
    except _DockerFailedError as exc:
        return StepResult(display, "Failed", mask(str(exc), job.secrets()), 1)
    return StepResult(display, "Succeeded", mask(log, job.secrets()), 0, True)


# Docker@2's addPipelineData labels (a subset): where the image came from.
PIPELINE_LABELS = {
    "com.azure.dev.image.build.sourceversion": "Build.SourceVersion",
    "com.azure.dev.image.build.repository.uri": "Build.Repository.Uri",
    "com.azure.dev.image.build.buildnumber": "Build.BuildNumber",
    "com.azure.dev.image.build.definitionname": "Build.DefinitionName",
}


class _DockerFailedError(Exception):
    """What the Docker daemon would answer with a non-zero exit."""


def _build_args(arguments: str, dockerfile: Path) -> list[tuple[str, str]]:
    """`--build-arg K=V ...` (nothing else); each K must be an ARG of the Dockerfile (Docker
    only warns about an unused one; here a misspelt name fails the step)."""
    declared = set(re.findall(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", dockerfile.read_text(), re.M))
    words = shlex.split(arguments)
    pairs: list[tuple[str, str]] = []
    while words:
        word = words.pop(0)
        if word == "--build-arg" and words:
            key, eq, value = words.pop(0).partition("=")
        elif word.startswith("--build-arg="):
            key, eq, value = word.split("=", 1)[1].partition("=")
        else:
            raise PipelineError(f"Docker@2 build: argument {word!r} is not supported here")
        if not eq:
            raise PipelineError(f"Docker@2 build: --build-arg {key} has no value")
        if key not in declared:
            raise PipelineError(
                f"Docker@2 build: --build-arg {key} is not an ARG of {dockerfile.name} "
                f"(declared: {sorted(declared)})"
            )
        pairs.append((key, value))
    return pairs


class _storage_lock:  # noqa: N801 (used like a function)
    def __init__(self, storage: Path) -> None:
        self.storage = storage

    def __enter__(self) -> None:
        import fcntl

        self.storage.mkdir(parents=True, exist_ok=True)
        self.handle = (self.storage / ".lock").open("w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def _publish(job: Job, inputs: dict[str, str], display: str) -> StepResult:
    from tests.pipelines.runner import StepResult

    if inputs.get("artifactType", "pipeline") != "pipeline":
        raise PipelineError("PublishPipelineArtifact@1: only artifactType pipeline")
    name = inputs.get("artifactName") or f"{job.stage}.{job.name}"
    source = Path(inputs["path"])
    if not source.exists():
        return StepResult(display, "Failed", f"##[error]Path does not exist: {source}\n", 1)
    store = job.run_result.artifacts
    if name in store:
        return StepResult(display, "Failed", f"##[error]Artifact {name} already exists\n", 1)
    target = job.runner.artifacts_dir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        target.mkdir()
        shutil.copy2(source, target / source.name)
    store[name] = target
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    return StepResult(display, "Succeeded", f"Uploaded artifact {name}: {files}\n", 0)


def _download(job: Job, inputs: dict[str, str], display: str) -> StepResult:
    from tests.pipelines.runner import StepResult

    name = inputs.get("artifact", "")
    if not name:
        raise PipelineError("DownloadPipelineArtifact@2: download all artifacts is not supported")
    if inputs.get("patterns", "**") != "**":
        raise PipelineError("DownloadPipelineArtifact@2: patterns are not supported here")
    stored = job.run_result.artifacts.get(name)
    if stored is None:
        return StepResult(display, "Failed", f"##[error]Artifact {name} was not found\n", 1)
    base = Path(inputs.get("path") or str(job.workspace))
    # The `download:` shortcut puts each artifact in $(Pipeline.Workspace)/<name>.
    target = base / name if inputs.get("path") in (None, "", str(job.workspace)) else base
    shutil.copytree(stored, target, dirs_exist_ok=True)
    for path in [target, *target.rglob("*")]:
        os.chown(path, job.agent.uid, job.agent.uid)
    return StepResult(display, "Succeeded", f"Downloaded {name} to {target}\n", 0)


def _cache(job: Job, inputs: dict[str, str], display: str) -> StepResult:
    from tests.pipelines.cache_task import restore

    return restore(job, inputs, display)


HANDLERS: dict[tuple[str, int], tuple[str, Handler]] = {
    ("cache", 2): ("CacheV2", _cache),
    ("usepythonversion", 0): ("UsePythonVersionV0", _use_python),
    ("azurecli", 2): ("AzureCLIV2", _azure_cli),
    ("docker", 2): ("DockerV2", _docker),
    ("publishpipelineartifact", 1): ("PublishPipelineArtifactV1", _publish),
    ("downloadpipelineartifact", 2): ("DownloadPipelineArtifactV2", _download),
}


def _lookup(task: str, where: str) -> tuple[str, Handler]:
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9_.-]*)@(\d+)", task)
    if not match:
        raise PipelineError(f"{where}: task {task!r}: expected Name@major")
    key = (match[1].lower(), int(match[2]))
    if key not in HANDLERS:
        supported = sorted(HANDLERS[k][0] for k in HANDLERS)
        raise PipelineError(
            f"{where}: task {task!r} is not known to this runner "
            f"(stand-ins with task.json: {supported})"
        )
    return HANDLERS[key]


def check_task_reference(task: str, raw_inputs: Mapping[str, Any], where: str) -> None:
    """Compile time: the task exists and every input name is one its task.json declares."""
    directory, _ = _lookup(task, where)
    names = TaskDefinition.load(directory).canonical()
    for key in raw_inputs:
        if str(key).lower() not in names:
            raise PipelineError(
                f"{where}: {task}: unknown input {key!r} (task.json inputs: "
                f"{sorted(set(names.values()))})"
            )


def run_task(
    job: Job, task: str, raw_inputs: Mapping[str, Any], step: dict[str, Any], display: str
) -> StepResult:
    directory, handler = _lookup(task, f"step {display}")
    definition = TaskDefinition.load(directory)
    expanded = {k: expand(str(v), job.variables) for k, v in raw_inputs.items()}
    inputs = validate_inputs(definition, expanded)
    inputs = {k: expand(v, job.variables) for k, v in inputs.items()}  # defaults with macros
    job._env_of_current = job._step_env(step)
    return handler(job, inputs, display)
