"""A complete GitOps world for bot tests: a GitHub repo seeded with this project's deploy tree
and policy, images in the real registry, model versions in the real model store (Azurite)."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import requests
from azure.storage.blob import BlobServiceClient, ContainerClient

from bot import api
from bot.adapters.forges import make_forge
from bot.core.model import REVISION_LABEL, SIGNATURE_LABEL
from bot.forge import CommitStatus, StatusState
from bot.imagespec import parse_image_spec, parse_literal_spec
from bot.kustomize import set_pins
from bot.policy import load_policy
from bot.settings import Settings
from localworld.azure_repos import LocalAzureRepos
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from modelstore import ModelStore
from tests.bot.measured_models import DATASET, holdout_npz, make_measured
from tests.conftest import git
from tests.oci import push_image

PROJECT = Path(__file__).resolve().parents[2]
SIGNATURE = "input:float32[?,64]"
ENVS = ("dev", "staging", "prod")
SHIPPED_IMAGE_REPOSITORY = "modelops-app"
WORLD_ORG = "modelops"  # the organization of every test's GitOps repository
OPEN_SPAN = timedelta(days=2)  # longer than the soak of any environment the tests promote


def shipped_policy_text(image_repo: str) -> str:
    """promotion.yaml as shipped, but for the line naming the image repository."""
    text = (PROJECT / "promotion.yaml").read_text()
    line = f"repository: {SHIPPED_IMAGE_REPOSITORY}\n"
    if text.count(line) != 1:
        raise AssertionError(f"the shipped policy must name its image repository once: {line!r}")
    return text.replace(line, f"repository: {image_repo}\n")


def open_time(after: datetime, span: timedelta = OPEN_SPAN) -> datetime:
    """The first time at or after `after` (tried every 30 minutes) from which no freeze window
    of the shipped promotion.yaml is open for `span`: tests promote through staging and prod
    whatever day they run (a weekend, the year-end freeze)."""
    envs = load_policy(PROJECT / "promotion.yaml").environments
    step = timedelta(minutes=30)
    at = after
    while True:
        times = [at + step * i for i in range(int(span / step) + 1)]
        ends = [frozen[1] for t in times for env in envs if (frozen := env.frozen_until(t))]
        if not ends:
            return at
        at = max(at + step, min(ends))  # past the first window that gets in the way


@dataclass
class GitOpsWorld:
    root: Path
    github: LocalGitHub  # the forge's local service (`forge` says which; see `for_forge`)
    registry: Registry
    azurite: Azurite
    # in the organization whose teams the shipped promotion.yaml asks for reviews
    repo_name: str = field(default_factory=lambda: f"{WORLD_ORG}/gitops-{uuid.uuid4().hex[:8]}")
    image_repo: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}/modelops-app")
    container: str = field(default_factory=lambda: f"m{uuid.uuid4().hex[:12]}")
    lock_container: str = field(default_factory=lambda: f"l{uuid.uuid4().hex[:12]}")
    seed: Path = field(init=False)
    digests: dict[str, str] = field(default_factory=dict)
    build: int = 0
    models: int = 0
    forge: str = "github"

    @classmethod
    def for_forge(
        cls,
        forge: str,
        root: Path,
        service: LocalGitHub | LocalAzureRepos,
        registry: Registry,
        azurite: Azurite,
    ) -> GitOpsWorld:
        """A world whose repository is on `forge`'s local service (`github` or `azure-repos`,
        which has the local GitHub's handle shape: url, token, remote_path, writes, inject)."""
        return cls(root, cast(LocalGitHub, service), registry, azurite, forge=forge)

    def __post_init__(self) -> None:
        self.seed = self.root / "seed"
        self.store = ModelStore.from_connection_string(
            self.azurite.connection_string, container=self.container
        )

    # ---------------------------------------------------------------- settings

    @property
    def remote(self) -> Path:
        return self.github.remote_path(self.repo_name)

    @property
    def image_name(self) -> str:
        return f"{self.registry.host}/{self.image_repo}"

    def forge_environ(self) -> dict[str, str]:
        if self.forge == "azure-repos":  # what an Azure Pipelines job has (System.AccessToken
            project, _, repo = self.repo_name.partition("/")  # mapped into the step's env:)
            return {
                "BOT_FORGE": "azure-repos",
                "SYSTEM_COLLECTIONURI": self.github.url + "/",
                "SYSTEM_TEAMPROJECT": project,
                "BUILD_REPOSITORY_NAME": repo,
                "SYSTEM_ACCESSTOKEN": self.github.token,
            }
        return {
            "GITHUB_REPOSITORY": self.repo_name,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_TOKEN": self.github.token,
        }

    def environ(self) -> dict[str, str]:
        return {
            "GITOPS_REMOTE": str(self.remote),
            **self.forge_environ(),
            "REGISTRY_HOST": self.registry.host,
            "AZURE_STORAGE_CONNECTION_STRING": self.azurite.connection_string,
            "MODELSTORE_CONTAINER": self.container,
            "BOT_WORKDIR": str(self.root / "bot-checkout"),
            "BOT_LOCK_CONTAINER": self.lock_container,
            "HOME": str(self.root),
        }

    def settings(self, **overrides: object) -> Settings:
        return Settings.from_env(self.environ(), **overrides)

    def lock_client(self) -> ContainerClient:
        service = BlobServiceClient.from_connection_string(self.azurite.connection_string)
        return service.get_container_client(self.lock_container)

    # ---------------------------------------------------------------- artifacts

    def push_image(self, revision: str, signature: str = SIGNATURE) -> str:
        """Push the next CI build (`0.1.0-<n>-<sha7>`); return its tag."""
        self.build += 1
        tag = f"0.1.0-{self.build}-{revision[:7]}"
        labels = {SIGNATURE_LABEL: signature, REVISION_LABEL: revision}
        self.digests[tag] = push_image(self.registry.url, self.image_repo, tag, labels)
        return tag

    def register_model(self, accuracy: float) -> int:
        """A model claiming `accuracy` that measures it, too, on the evaluation set the shipped
        policy pins (`tests/bot/measured_models.py`, registered with the first model)."""
        if self.models == 0:
            holdout = self.root / "holdout" / "data.npz"
            holdout.parent.mkdir(parents=True, exist_ok=True)
            holdout.write_bytes(holdout_npz())
            self.store.datasets.register(DATASET, holdout)
        self.models += 1
        path = make_measured(
            self.root / f"model-{self.models}" / "model.onnx", accuracy, salt=self.models
        )
        manifest = self.store.register("digits", path, metrics={"accuracy": accuracy})
        return manifest.version

    # ---------------------------------------------------------------- git

    def init_repo(self) -> str:
        """The repository with a first app commit (what the first image is built from)."""
        self.github.create_repo(self.repo_name)
        self.seed.mkdir(parents=True)
        git(self.seed, "init", "-q", "-b", "main")
        git(self.seed, "remote", "add", "origin", str(self.remote))
        return self.app_commit("app: first version", pull=False)

    def seed_repo(self, *, tag: str, model_version: int) -> str:
        """The GitOps repo: this project's deploy tree and its shipped promotion.yaml, every env
        pinned to tag/model. The policy is used as shipped (automerge, freeze windows,
        reviewers); only the image source points into this test's own registry namespace
        (`shipped_policy_text`). Control time with `open_clock`, checks with statuses."""
        shutil.copytree(PROJECT / "deploy", self.seed / "deploy")
        (self.seed / "promotion.yaml").write_text(self.shipped_policy_text())
        for env in ENVS:
            self.pin(env, tag, model_version)
        git(self.seed, "add", ".")
        git(self.seed, "commit", "-q", "-m", "seed GitOps repo")
        git(self.seed, "push", "-q", "origin", "main")
        return self.head()

    def seed_with_dev_due(self, accuracy: float = 0.96) -> None:
        """The usual start: every env on image 1 and model 1 (accuracy 0.95), then a new app
        commit's image and a new model version (`accuracy`), so a promotion is due on dev."""
        tag1 = self.push_image(self.init_repo())
        self.register_model(0.95)
        self.seed_repo(tag=tag1, model_version=1)
        self.push_image(self.app_commit("app: faster predict"))
        self.register_model(accuracy)

    def shipped_policy_text(self) -> str:
        """promotion.yaml as shipped, byte for byte, but for the one line naming the image
        repository: this test's namespace in the shared local registry (the endpoint; the
        registry host itself comes from settings)."""
        return shipped_policy_text(self.image_repo)

    def open_clock(self, span: timedelta = OPEN_SPAN) -> datetime:
        """A `now` from which no freeze window of the shipped policy is open for `span`, with
        the local GitHub's clock moved there (its merges and statuses are then that recent, so
        soak is measured as in production): pass it, plus elapsed time, as the runs' `now`.
        The clock is put back after the test (tests/conftest.py)."""
        real = datetime.now(UTC)
        at = open_time(real, span)
        self.github.set_clock_offset((at - real).total_seconds())
        return at

    def at(self, when: datetime) -> datetime:
        """Move the local forge's clock to `when` and return it, as the bot's `now` for a run
        then: soak is measured on the forge's clock (its `Date`), so a run "two hours later"
        needs the forge two hours later too, as `PROMOTION_BOT_NOW` and the demo's clock do."""
        self.github.set_clock_offset((when - datetime.now(UTC)).total_seconds())
        return when

    def ci_reports(self, env: str, state: str = "success", context: str = "ci/test") -> str:
        """CI reports a commit status on the head of `promote/<env>` (as the GitOps repo's CI
        would on every PR head), through the forge's own API; returns the head's sha."""
        sha = git(self.remote, "rev-parse", f"refs/heads/promote/{env}").strip()
        make_forge(self.settings()).create_status(sha, CommitStatus(context, StatusState(state)))
        return sha

    def merge_dev(self, now: datetime) -> None:
        """dev's promotion as the shipped policy has it (automerge, no `required_checks`): a
        run opens the PR, CI reports a green check on its head, the next run merges it."""
        api.run(self.settings(), now=now)
        self.ci_reports("dev")
        dev = next(o for o in api.run(self.settings(), now=now).outcomes if o.env == "dev")
        assert dev.label == "merged", dev.reason

    def pin(self, env: str, tag: str, model_version: int) -> None:
        manifest = self.store.get_manifest("digits", model_version)
        set_pins(
            self.seed / "deploy" / "overlays" / env / "kustomization.yaml",
            images=[parse_image_spec(f"modelops-app={self.image_name}:{tag}@{self.digests[tag]}")],
            literals=[
                parse_literal_spec(f"model-pin:MODEL_VERSION={model_version}"),
                parse_literal_spec(f"model-pin:MODEL_SHA256={manifest.primary_sha256}"),
            ],
        )

    def app_commit(self, message: str, *, pull: bool = True) -> str:
        """A developer's commit on main (what CI would build an image from)."""
        if pull:
            self.pull()
        app = self.seed / "app.txt"
        app.write_text((app.read_text() if app.exists() else "") + message + "\n")
        git(self.seed, "add", "app.txt")
        git(self.seed, "commit", "-q", "-m", message)
        git(self.seed, "push", "-q", "origin", "main")
        return self.head()

    def pull(self) -> None:
        git(self.seed, "pull", "-q", "--ff-only", "origin", "main")

    def head(self) -> str:
        return git(self.seed, "rev-parse", "HEAD").strip()

    def remote_file(self, ref: str, path: str) -> str:
        return git(self.remote, "show", f"{ref}:{path}")

    def overlay_on(self, ref: str, env: str) -> str:
        return self.remote_file(ref, f"deploy/overlays/{env}/kustomization.yaml")

    # ---------------------------------------------------------------- the clusters

    def ship(self, env: str, now: datetime) -> datetime:
        """The nightly release at bot time `now` moves `release/<env>` (among others), then
        `env`'s Flux reports it healthy. Returns the forge's time the soak in `env` counts from
        (the forge's timestamp of that status)."""
        from bot import api

        night = api.release(self.settings(), today=now.date(), now=now)
        actions = {d.env: d.action.value for d in night.envs}
        assert actions.get(env) in {"release", "noop"}, night.envs
        return self.status_time(self.flux_reports(env))

    def status_time(self, sha: str) -> datetime:
        """When the forge recorded the newest status on `sha` (its clock: see `open_clock`)."""
        newest = make_forge(self.settings()).list_statuses(sha)[0].created_at
        assert newest is not None
        return newest

    def flux_reports(self, env: str, state: str = "success", sha: str | None = None) -> str:
        """What Flux's notification-controller sends once the environment's Kustomization
        applied `release/<env>` (docs/deployment-confirmation.md, the fixtures in
        tests/deploy/testdata/controller_statuses.json): list the commit's statuses, then POST
        {state, description, context}, no target_url. Returns the commit. (The cluster cannot
        run here: this stands in for it, on the real endpoint.)"""
        sha = sha or git(self.remote, "rev-parse", f"refs/heads/release/{env}").strip()
        headers = {"Authorization": f"token {self.github.token}"}
        base = f"{self.github.url}/repos/{self.repo_name}"
        listed = requests.get(
            f"{base}/commits/{sha}/statuses", params={"per_page": "50"}, headers=headers, timeout=10
        )
        listed.raise_for_status()
        description = {"success": "reconciliation succeeded", "failure": "health check failed"}
        posted = requests.post(
            f"{base}/statuses/{sha}",
            json={
                "state": state,
                "description": description[state],
                "context": f"kustomization/modelops-{env}/aks-modelops",
            },
            headers=headers,
            timeout=10,
        )
        posted.raise_for_status()
        return sha


def literal(text: str, key: str) -> str:
    for line in text.splitlines():
        stripped = line.strip().removeprefix("- ")
        if stripped.startswith(f"{key}="):
            return stripped.split("=", 1)[1]
    raise AssertionError(f"{key} not in overlay")
