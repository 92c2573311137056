"""Benchmark: one promotion-bot run against N overlays and T registry tags, with K changes.

The bot's requirement (issue 8): on a generated GitOps repo with 1,000 overlays and 500 tags per
image, measure wall time and API calls of a no-op run and of a run with 10 changes; API calls
must grow with the changes, not with the number of tags or overlays.

Everything is real and local: the local GitHub (REST API + bare Git remotes), the Debian
docker-registry, Azurite (model store and the run lock). Started here in a temp dir and stopped
by PID at the end, even on failure.

The generated world, per size:
* a chain of N environments `env-0001 -> env-0002 -> ...` (`source: {previous: ...}`), each with
  its own `deploy/overlays/<env>/kustomization.yaml`; no soak, no freeze windows, and
  `automerge: false` everywhere (the automerge check renders only dev/staging/prod overlays);
* an image repository with T tags `0.1.0-<build>-<sha7>` (numerical tag policy on the build
  number, like the project's policy), each a distinct tiny image with signature and revision
  labels; one model version `digits` v1 in the model store;
* every `release/<env>` at main, and each environment's Flux (its own token) reporting success
  on it, as the nightly release and the clusters leave it (the hourly run's soak gate needs the
  previous environment to have confirmed the pins, decision 36); the runs' clock is taken after
  those statuses, so the zero soak has passed;
* a change is an environment one tag behind its predecessor (env-0001: behind the registry).
  K changes sit at evenly spread positions p_1 = 1 < p_2 < ... < p_K; the environments from p_k
  up to (not including) p_{k+1} pin tag T-k. So exactly K environments can move, every other
  one equals its predecessor, and K = 0 is the no-op run (every overlay at the latest tag).

Each measured run is `bot.api.run(settings, now=...)` on a warm checkout (the clone is the
bot's cache; its cost is shown apart as `clone`). The world with the most changes is run a
second time ("10 PRs open"): nothing new, so zero writes, but the open PRs are re-checked; the
no-op world too ("0, again": a warm no-op, every blob already parsed in this process).
Counted per run:
* GitHub: every API call in the local server's request log, split into reads and writes;
* registry: `RegistryClient.requests_made` of the clients the run created (cross-checked
  against the HTTP requests this process sent to the registry's port);
* store: HTTP requests to Azurite for the model container (the model store), and apart for
  the run lock (`lock`: acquire/renew/release; renewals grow with wall time, by design);
* git: git subprocesses the bot spawned (local work, not API calls: the O(N) cost of a run).
Figures are printed with ratios against the smallest size of the same sweep measured in the
same run; nothing is asserted about timings. A scenario that does not produce exactly K
promotions, or a no-op that writes, is a bug in this benchmark and stops it.

Run: .venv/bin/python bench/bench_bot.py            (or `make bench`)
     .venv/bin/python bench/bench_bot.py --quick    (smaller sizes, for a smoke run)
     .venv/bin/python bench/bench_bot.py --profile  (+ cProfile of one extra biggest run)
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import hashlib
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bot import api, runner, wiring, world
from bot.adapters.git import GitRepo
from bot.adapters.github import GitHubForge
from bot.core.model import REVISION_LABEL, SIGNATURE_LABEL
from bot.kustomize import read_pins_text
from bot.settings import Settings
from localworld.github import LocalGitHub, start_github
from localworld.process import ServiceProcess
from localworld.services import (
    AZURITE_ACCOUNT,
    Azurite,
    Registry,
    start_azurite,
    start_registry,
)
from modelstore import ModelStore

PROJECT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"  # noqa: S105 (a fake token the local GitHub is started with)
FLUX_TOKEN = "bench-flux-token"  # noqa: S105 (the clusters' controllers report with this one)
FLUX_LOGIN = "flux-bench"
REVIEWER = "reviewer-1"
SIGNATURE = "input:float32[?,64]"
MODEL = "digits"
MODEL_CONTAINER = "models"
LOCK_CONTAINER = "promotion-bot"
APP_COMMITS = 12  # image revisions point at these commits, so PR bodies get real commit ranges
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

# (overlays, tags) per sweep; the first entry of each sweep is its baseline.
OVERLAY_SWEEP = ((10, 500), (100, 500), (1000, 500))
TAG_SWEEP = ((100, 20), (100, 100), (100, 500))  # 20, not 10: K=10 needs K+1 distinct tags
CHANGES = (0, 1, 10)
QUICK_OVERLAY_SWEEP = ((10, 50), (50, 50))
QUICK_TAG_SWEEP = ((20, 20), (20, 50))
QUICK_CHANGES = (0, 2)


# --------------------------------------------------------------------------- instrumentation


class HttpCounter:
    """Counts every HTTP request this process sends through `requests` (PyGithub, the registry
    client and the Azure SDK all do), by port and, for Azurite, by container."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._original = requests.Session.send

    def install(self) -> None:
        original = self._original
        counter = self

        @functools.wraps(original)
        def send(session: requests.Session, request: Any, **kwargs: Any) -> Any:
            parts = urlsplit(str(request.url))
            key = f"{parts.port}"
            segments = parts.path.split("/")
            if len(segments) > 2 and segments[1] == AZURITE_ACCOUNT:
                key += ":" + segments[2]  # /<account>/<container>/... on Azurite
            with counter._lock:
                counter.counts[key] += 1
            return original(session, request, **kwargs)

        setattr(requests.Session, "send", send)  # noqa: B010 (mypy: method assignment)

    def uninstall(self) -> None:
        setattr(requests.Session, "send", self._original)  # noqa: B010

    def take(self) -> Counter[str]:
        with self._lock:
            taken, self.counts = self.counts, Counter()
        return taken


class Probe:
    """Wraps bot functions (not their code) to count git subprocesses, time the run's phases
    and keep the `Services` a run creates (their registry clients hold `requests_made`)."""

    PHASES = (
        (wiring, "prepare_checkout", "fetch"),
        (world, "read_policy", "policy"),
        (world, "read_state", "overlays"),
        (world, "discover_images", "registry"),
        (world, "discover_manifests", "store"),
        (runner, "plan", "plan"),
        (GitHubForge, "open_prs", "prs"),
        (runner, "read_env_facts", "actions"),
        (runner, "execute", "apply"),
    )

    def __init__(self) -> None:
        self.git: Counter[str] = Counter()
        self.phase_s: defaultdict[str, float] = defaultdict(float)
        self.services: list[api.Services] = []
        self._saved: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        def patch(owner: Any, name: str, wrapper: Any) -> None:
            self._saved.append((owner, name, owner.__dict__[name]))
            setattr(owner, name, wrapper)

        original_git = GitRepo._git

        @functools.wraps(original_git)
        def counted_git(repo: GitRepo, *args: str) -> str:
            self.git[next((a for a in args if not a.startswith("-") and "=" not in a), "?")] += 1
            start = time.perf_counter()
            try:
                return original_git(repo, *args)
            finally:
                self.phase_s["git"] += time.perf_counter() - start

        patch(GitRepo, "_git", counted_git)
        original_stdin = GitRepo._git_stdin

        @functools.wraps(original_stdin)
        def counted_stdin(repo: GitRepo, args: Sequence[str], stdin: bytes) -> bytes:
            self.git[next((a for a in args if not a.startswith("-") and "=" not in a), "?")] += 1
            start = time.perf_counter()
            try:
                return original_stdin(repo, args, stdin)
            finally:
                self.phase_s["git"] += time.perf_counter() - start

        patch(GitRepo, "_git_stdin", counted_stdin)
        # bot.world imported read_pins_text by name: the YAML parse of every overlay
        patch(world, "read_pins_text", self._timed(read_pins_text, "yaml"))
        original_connect = api.connect

        @functools.wraps(original_connect)
        def connect(settings: Settings) -> api.Services:
            services = original_connect(settings)
            self.services.append(services)
            return services

        patch(api, "connect", connect)
        for owner, name, phase in self.PHASES:
            patch(owner, name, self._timed(owner.__dict__[name], phase))

    def _timed(self, fn: Callable[..., Any], phase: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.phase_s[phase] += time.perf_counter() - start

        return timed

    def uninstall(self) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved.clear()

    def reset(self) -> None:
        self.git.clear()
        self.phase_s.clear()
        self.services.clear()

    def registry_requests(self) -> int:
        return sum(c.requests_made for s in self.services for c in s.registries.values())


# --------------------------------------------------------------------------- the world


def run_git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {cwd}: {result.stderr.strip()}")
    return result.stdout


def isolate_git(home: Path) -> None:
    """Never read or write the user's home or git config (like the test suite's fixture)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / ".gitconfig"
    config.write_text(
        "[user]\n\tname = Bench Runner\n\temail = bench@example.invalid\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        os.environ.pop(key)
    os.environ.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(config), GIT_CONFIG_NOSYSTEM="1")


def make_onnx(path: Path) -> Path:
    """A tiny real ONNX model whose input signature is `input:float32[?,64]`."""
    import onnx
    from onnx import TensorProto, helper

    weights = helper.make_tensor("W", TensorProto.FLOAT, [64, 10], [i * 0.001 for i in range(640)])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["probabilities"])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 10])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


class ImagePusher:
    """Pushes tiny OCI images (one shared layer, a config per tag) over one HTTP session."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.session = requests.Session()

    def blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        head = self.session.head(f"{self.base}/v2/{repo}/blobs/{digest}", timeout=10)
        if head.status_code == 200:
            return digest
        start = self.session.post(f"{self.base}/v2/{repo}/blobs/uploads/", timeout=10)
        start.raise_for_status()
        location = start.headers["Location"]
        location = self.base + location if location.startswith("/") else location
        sep = "&" if "?" in location else "?"
        done = self.session.put(
            f"{location}{sep}digest={digest}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=10,
        )
        done.raise_for_status()
        return digest

    def image(self, repo: str, tag: str, labels: dict[str, str]) -> str:
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": labels},
                "rootfs": {"type": "layers", "diff_ids": []},
            }
        ).encode()
        layer = b"bench layer"
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": self.blob(repo, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": self.blob(repo, layer),
                    "size": len(layer),
                }
            ],
        }
        resp = self.session.put(
            f"{self.base}/v2/{repo}/manifests/{tag}",
            data=json.dumps(manifest).encode(),
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            timeout=10,
        )
        resp.raise_for_status()
        return str(resp.headers["Docker-Content-Digest"])


@dataclass
class ImageRepo:
    name: str
    tags: list[str]  # tags[b - 1] is build b
    digests: dict[str, str]


TAG_PATTERN = r"^(?P<version>\d+\.\d+\.\d+)-(?P<build>\d+)-(?P<sha>[0-9a-f]{7,40})$"

OVERLAY = """\
# Environment: {env}. Generated by bench/bench_bot.py.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: modelops-{env}

resources:
  - ../../base

# ===== PINS: what runs in {env}. Edited by promotion-bot through reviewed PRs.
images:
  - name: modelops-app
    newName: {new_name}
    newTag: {tag}
    digest: {digest}

configMapGenerator:
  - name: model-pin
    literals:
      - MODEL_NAME={model}
      - MODEL_VERSION={version}
      - MODEL_SHA256={sha}
# ===== end of pins.
  - name: modelstore
    behavior: merge
    literals:
      - MODELSTORE_ACCOUNT_URL=https://modelopsmodels{env_short}.blob.core.windows.net
"""


def env_name(index: int) -> str:
    return f"env-{index + 1:04d}"


def policy_text(envs: int, registry_host: str, image_repo: str) -> str:
    lines = [
        "# Generated by bench/bench_bot.py: a chain of environments, each from the previous.",
        "version: 1",
        "image_name: modelops-app",
        "model_pin: model-pin",
        "registry:",
        f"  host: {registry_host}",
        "model_store:  # the settings point the bot at Azurite",
        "  account_url: https://modelopsmodels.blob.core.windows.net",
        "  container: models",
        "environments:",
    ]
    for i in range(envs):
        name = env_name(i)
        lines += [f"  - name: {name}", f"    overlay: deploy/overlays/{name}/kustomization.yaml"]
        if i == 0:
            lines += [
                "    source:",
                f"      image: {{repository: {image_repo}}}",
                f"      model: {{name: {MODEL}}}",
                "    tag_policy:",
                "      numerical: {order: asc}",
                "      filter:",
                f"        pattern: '{TAG_PATTERN}'",
                "        extract: '$build'",
                "    model_selector: {}",
                "    gates:",
                "      metrics:",
                "        accuracy: {min: 0.9, max_drop: 0.02}",
            ]
        else:
            lines += [
                f"    source: {{previous: {env_name(i - 1)}}}",
                f"    reviewers: [{REVIEWER}]",
            ]
        lines += ["    automerge: false", f"    labels: [promotion, env/{name}]"]
    return "\n".join(lines) + "\n"


def change_positions(envs: int, changes: int) -> list[int]:
    """0-based indexes of the K environments that are one tag behind their predecessor."""
    return [(k * envs) // changes for k in range(changes)] if changes else []


def pinned_builds(envs: int, tags: int, changes: int) -> list[int]:
    """Build number each environment pins: T minus the number of change positions up to it."""
    positions = change_positions(envs, changes)
    builds, behind = [], 0
    for i in range(envs):
        while behind < len(positions) and positions[behind] <= i:
            behind += 1
        builds.append(tags - behind)
    return builds


@dataclass
class Bench:
    root: Path
    github: LocalGitHub
    registry: Registry
    azurite: Azurite
    store: ModelStore = field(init=False)
    template: Path = field(init=False)
    revisions: list[str] = field(default_factory=list)
    image_repos: dict[int, ImageRepo] = field(default_factory=dict)
    model_sha: str = ""
    worlds: int = 0

    def __post_init__(self) -> None:
        self.store = ModelStore.from_connection_string(
            self.azurite.connection_string, container=MODEL_CONTAINER
        )
        self.template = self.root / "template"

    def prepare(self, tag_counts: set[int]) -> None:
        manifest = self.store.register(
            MODEL, make_onnx(self.root / "model" / "model.onnx"), metrics={"accuracy": 0.95}
        )
        if manifest.signature is None or manifest.signature.input_key() != SIGNATURE:
            raise RuntimeError(f"model signature is not {SIGNATURE}: {manifest.signature}")
        self.model_sha = manifest.primary_sha256
        self.template.mkdir(parents=True)
        run_git(self.template, "init", "-q", "-b", "main")
        for i in range(APP_COMMITS):
            (self.template / "app.txt").write_text(f"app change {i}\n")
            run_git(self.template, "add", "app.txt")
            run_git(self.template, "commit", "-q", "-m", f"app: change {i}")
            self.revisions.append(run_git(self.template, "rev-parse", "HEAD").strip())
        pusher = ImagePusher(self.registry.url)
        for count in sorted(tag_counts):
            repo = f"bench/app-t{count}"
            tags, digests = [], {}
            for build in range(1, count + 1):
                revision = self.revisions[build % APP_COMMITS]
                tag = f"0.1.0-{build}-{revision[:7]}"
                labels = {
                    SIGNATURE_LABEL: SIGNATURE,
                    REVISION_LABEL: revision,
                    "org.opencontainers.image.version": tag,
                }
                digests[tag] = pusher.image(repo, tag, labels)
                tags.append(tag)
            self.image_repos[count] = ImageRepo(repo, tags, digests)

    def seed(self, envs: int, tags: int, changes: int) -> tuple[str, Path]:
        """A new GitHub repository holding the generated GitOps tree; (full name, its remote)."""
        self.worlds += 1
        full_name = f"bench/gitops-{self.worlds:02d}-n{envs}-t{tags}-k{changes}"
        remote = self.github.create_repo(full_name)
        seed = self.root / "seeds" / full_name.split("/")[1]
        run_git(self.root, "clone", "-q", str(self.template), str(seed))
        shutil.copytree(PROJECT / "deploy" / "base", seed / "deploy" / "base")
        image = self.image_repos[tags]
        new_name = f"{self.registry.host}/{image.name}"
        (seed / "promotion.yaml").write_text(policy_text(envs, self.registry.host, image.name))
        for i, build in enumerate(pinned_builds(envs, tags, changes)):
            name = env_name(i)
            tag = image.tags[build - 1]
            overlay = seed / "deploy" / "overlays" / name / "kustomization.yaml"
            overlay.parent.mkdir(parents=True)
            overlay.write_text(
                OVERLAY.format(
                    env=name,
                    env_short=name.replace("-", ""),
                    new_name=new_name,
                    tag=tag,
                    digest=image.digests[tag],
                    model=MODEL,
                    version=1,
                    sha=self.model_sha,
                )
            )
        run_git(seed, "add", ".")
        run_git(seed, "commit", "-q", "-m", f"seed GitOps repo: {envs} environments")
        run_git(seed, "push", "-q", str(remote), "HEAD:refs/heads/main")
        self.release_all(seed, remote, full_name, envs)
        shutil.rmtree(seed)
        return full_name, remote

    def release_all(self, seed: Path, remote: Path, full_name: str, envs: int) -> None:
        """What the nightly release and the clusters leave: every `release/<env>` at main, and
        each environment's Flux reporting success on it (a status in the context the bot reads,
        docs/deployment-confirmation.md), so the soak gate sees the pins confirmed, as it would
        an hour after a night. All N statuses land on one commit, as in production when the
        nightly moved every ref to the same main."""
        refs = [f"HEAD:refs/heads/release/{env_name(i)}" for i in range(envs)]
        run_git(seed, "push", "-q", str(remote), *refs)
        sha = run_git(seed, "rev-parse", "HEAD").strip()
        url = f"{self.github.url}/repos/{full_name}/statuses/{sha}"
        with requests.Session() as flux:
            flux.headers["Authorization"] = f"token {FLUX_TOKEN}"
            for i in range(envs):
                posted = flux.post(
                    url,
                    json={
                        "state": "success",
                        "description": "reconciliation succeeded",
                        "context": f"kustomization/modelops-{env_name(i)}/bench-cluster",
                    },
                    timeout=10,
                )
                posted.raise_for_status()

    def settings(self, full_name: str, remote: Path) -> Settings:
        environ = {
            "GITOPS_REMOTE": str(remote),
            "GITHUB_REPOSITORY": full_name,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_TOKEN": self.github.token,
            "REGISTRY_HOST": self.registry.host,
            "AZURE_STORAGE_CONNECTION_STRING": self.azurite.connection_string,
            "MODELSTORE_CONTAINER": MODEL_CONTAINER,
            "BOT_WORKDIR": str(self.root / "checkouts" / full_name.split("/")[1]),
            "BOT_LOCK_CONTAINER": LOCK_CONTAINER,
            "HOME": os.environ["HOME"],
        }
        return Settings.from_env(environ)


# --------------------------------------------------------------------------- measuring


@dataclass
class Result:
    envs: int
    tags: int
    changes: int
    rerun: bool  # the same world run again: nothing new, `changes` PRs open
    wall_s: float
    clone_s: float
    promotions: int
    gh_reads: int
    gh_writes: int
    registry: int
    store: int
    lock: int
    git: int
    phases: dict[str, float]
    gh_calls: Counter[str]
    git_calls: Counter[str]
    http_registry: int

    @property
    def key(self) -> tuple[int, int, int, bool]:
        return (self.envs, self.tags, self.changes, self.rerun)

    @property
    def label(self) -> str:
        if self.rerun:  # the no-op again: the same blobs, parsed once (bot/contentcache.py)
            return f"{self.changes} PRs open" if self.changes else "0, again"
        return str(self.changes)

    @property
    def api_calls(self) -> int:
        return self.gh_reads + self.gh_writes + self.registry + self.store


def _operation(entry: dict[str, Any]) -> str:
    return f"{entry['method']} {entry.get('operation') or entry['path']}"


@dataclass
class Meter:
    bench: Bench
    probe: Probe
    http: HttpCounter

    def run(
        self,
        settings: Settings,
        size: tuple[int, int, int, bool],
        clone_s: float,
        profile: cProfile.Profile | None = None,
        *,
        now: datetime | None = None,
    ) -> Result:
        envs, tags, changes, rerun = size
        since = self.bench.github.last_seq()
        self.probe.reset()
        self.http.take()
        start = time.perf_counter()
        if profile is not None:
            profile.enable()
        try:
            report = api.run(settings, now=now or datetime.now(UTC))
        finally:
            if profile is not None:
                profile.disable()
        wall = time.perf_counter() - start
        sent = self.http.take()
        log = self.bench.github.requests(since)
        calls = [r for r in log if not r["path"].startswith("/_localworld")]
        writes = [r for r in calls if r["method"] in WRITE_METHODS]
        promotions = sum(1 for o in report.outcomes if o.action.startswith("push"))
        expected = 0 if rerun else changes
        if promotions != expected or (changes == 0 and writes):
            actions = Counter(o.action for o in report.outcomes)
            raise RuntimeError(
                f"scenario bug: {size} gave {promotions} promotions, {len(writes)} GitHub "
                f"writes (actions: {dict(actions)})"
            )
        azurite = self.bench.azurite.port
        return Result(
            envs=envs,
            tags=tags,
            changes=changes,
            rerun=rerun,
            wall_s=wall,
            clone_s=clone_s,
            promotions=promotions,
            gh_reads=len(calls) - len(writes),
            gh_writes=len(writes),
            registry=self.probe.registry_requests(),
            store=sent[f"{azurite}:{MODEL_CONTAINER}"],
            lock=sent[f"{azurite}:{LOCK_CONTAINER}"],
            git=sum(self.probe.git.values()),
            phases=dict(self.probe.phase_s),
            gh_calls=Counter(_operation(r) for r in calls),
            git_calls=Counter(self.probe.git),
            http_registry=sent[str(self.bench.registry.port)],
        )

    def world(self, envs: int, tags: int, changes: int, *, rerun: bool) -> list[Result]:
        """Seed a world, warm the bot's checkout, run once (and again when `rerun`)."""
        full_name, remote = self.bench.seed(envs, tags, changes)
        settings = self.bench.settings(full_name, remote)
        start = time.perf_counter()
        wiring.prepare_checkout(str(remote), settings.checkout_dir())
        clone_s = time.perf_counter() - start
        # the runs' clock, after the controllers' statuses (the soak itself counts on the
        # forge's clock, `Deployment.read_at`)
        now = datetime.now(UTC)
        results = [self.run(settings, (envs, tags, changes, False), clone_s, now=now)]
        if rerun:
            results.append(self.run(settings, (envs, tags, changes, True), clone_s, now=now))
        return results


# --------------------------------------------------------------------------- report


def _ratio(value: float, base: float) -> str:
    if base == 0:
        return "=" if value == 0 else "new"
    return f"{value / base:.2f}x"


COLUMNS = (
    ("overlays", 8),
    ("tags", 4),
    ("changes", 12),
    ("wall s", 6),
    ("ratio", 6),
    ("gh reads", 8),
    ("gh writes", 9),
    ("registry", 8),
    ("store", 5),
    ("API calls", 9),
    ("ratio", 6),
    ("lock", 4),
    ("git procs", 9),
    ("ratio", 6),
)


def print_table(title: str, results: list[Result], baseline: Callable[[Result], Result]) -> None:
    print(f"\n{title}")
    header = "  ".join(f"{name:>{width}}" for name, width in COLUMNS)
    print(header)
    print("-" * len(header))
    for r in results:
        b = baseline(r)
        cells = (
            r.envs,
            r.tags,
            r.label,
            f"{r.wall_s:.2f}",
            _ratio(r.wall_s, b.wall_s),
            r.gh_reads,
            r.gh_writes,
            r.registry,
            r.store,
            r.api_calls,
            _ratio(r.api_calls, b.api_calls),
            r.lock,
            r.git,
            _ratio(r.git, b.git),
        )
        print("  ".join(f"{c!s:>{w}}" for c, (_, w) in zip(cells, COLUMNS, strict=True)))


PHASE_NAMES = ("fetch", "policy", "overlays", "registry", "store", "plan", "prs", "actions")


def print_phases(results: list[Result]) -> None:
    print(
        "\nwhere the wall time goes, seconds (phases of api.run; 'overlays' = read_state, of "
        "which\n'yaml' parses pins and the rest is mostly git; 'git' = all git subprocesses "
        "of the run;\n'clone' = the first clone, before the run)"
    )
    names = (*PHASE_NAMES, "apply", "yaml", "git", "clone")
    header = f"{'overlays':>8}  {'tags':>4}  {'changes':>12}  " + "  ".join(
        f"{n:>8}" for n in names
    )
    print(header)
    print("-" * len(header))
    for r in results:
        spent = [r.phases.get(n, 0.0) for n in names[:-1]] + [r.clone_s]
        cells = "  ".join(f"{s:8.2f}" for s in spent)
        print(f"{r.envs:>8}  {r.tags:>4}  {r.label:>12}  {cells}")


def print_calls(results: list[Result]) -> None:
    print("\nGitHub calls by operation, and git subprocesses by command (one line each per run)")
    for r in results:
        tag = f"n={r.envs} t={r.tags} changes={r.label}:"
        gh = ", ".join(f"{op} x{n}" for op, n in sorted(r.gh_calls.items()))
        git = ", ".join(f"{cmd} x{n}" for cmd, n in r.git_calls.most_common())
        print(f"  {tag} GitHub: {gh or '-'}")
        print(f"  {'':{len(tag)}} git: {git or '-'}")


def print_profile(profile: cProfile.Profile, top: int, what: str) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of one extra run, {what} (not in the tables: profiling slows it down)")
    print(out.getvalue().rstrip())


# --------------------------------------------------------------------------- main


@contextmanager
def local_world(root: Path) -> Iterator[tuple[LocalGitHub, Registry, Azurite]]:
    """Start the three services; stop each one by PID on the way out, whatever happened."""
    started: list[ServiceProcess] = []
    try:
        github = start_github(
            root / "github" / "repos",
            root / "logs",
            [f"{TOKEN}:localworld-bot:*/*", f"{FLUX_TOKEN}:{FLUX_LOGIN}:*/*"],
            users=(REVIEWER,),
        )
        started.append(github.process)
        registry = start_registry(root / "registry", root / "logs")
        started.append(registry.process)
        azurite = start_azurite(root / "azurite", root / "logs")
        started.append(azurite.process)
        yield github, registry, azurite
    finally:
        for process in reversed(started):
            process.stop()


Results = dict[tuple[int, int, int, bool], Result]


def measure_all(
    bench: Bench, sizes: list[tuple[int, int]], change_counts: tuple[int, ...], profile: bool
) -> tuple[Results, cProfile.Profile | None]:
    """Every size with every number of changes (none and the most also rerun), then the
    profile."""
    most = max(change_counts)
    results: Results = {}
    probe, http = Probe(), HttpCounter()
    probe.install()
    http.install()
    meter = Meter(bench, probe, http)
    try:
        for envs, tags in sizes:
            for changes in change_counts:
                for r in meter.world(envs, tags, changes, rerun=changes in (0, most)):
                    results[r.key] = r
                    print(
                        f"  measured n={envs} t={tags} changes={r.label}: "
                        f"{r.wall_s:.2f}s, {r.api_calls} API calls",
                        flush=True,
                    )
        if not profile:
            return results, None
        envs, tags = max(sizes)
        full_name, remote = bench.seed(envs, tags, most)
        settings = bench.settings(full_name, remote)
        wiring.prepare_checkout(str(remote), settings.checkout_dir())
        profiler = cProfile.Profile()
        meter.run(settings, (envs, tags, most, False), 0.0, profiler)
        return results, profiler
    finally:
        http.uninstall()
        probe.uninstall()


def report(
    results: Results,
    overlay_sweep: tuple[tuple[int, int], ...],
    tag_sweep: tuple[tuple[int, int], ...],
    change_counts: tuple[int, ...],
) -> None:
    for r in results.values():
        if r.registry != r.http_registry:
            print(
                f"note: n={r.envs} t={r.tags} changes={r.label}: requests_made={r.registry} "
                f"but {r.http_registry} HTTP requests reached the registry"
            )

    def by_overlays(r: Result) -> Result:
        return results[(overlay_sweep[0][0], r.tags, r.changes, r.rerun)]

    def by_tags(r: Result) -> Result:
        return results[(r.envs, tag_sweep[0][1], r.changes, r.rerun)]

    def by_changes(r: Result) -> Result:
        return results[(r.envs, r.tags, change_counts[0], False)]

    def order(r: Result) -> tuple[int, bool, int, int]:
        return (r.changes, r.rerun, r.envs, r.tags)

    everything = sorted(results.values(), key=lambda r: r.key)
    print(
        "\nAPI calls = GitHub reads + writes + registry + model store requests. 'lock' (the "
        "Blob lease:\nacquire, renew every 10 s, release) and 'git procs' (local git "
        "subprocesses) are shown apart.\n'changes' = environments that can move; "
        "'N PRs open' = the same world run again, nothing new."
    )
    print_table(
        f"sweep 1: overlays, {overlay_sweep[0][1]} tags (ratio to {overlay_sweep[0][0]} "
        "overlays, same changes)",
        sorted((r for r in results.values() if (r.envs, r.tags) in overlay_sweep), key=order),
        by_overlays,
    )
    print_table(
        f"sweep 2: tags, {tag_sweep[0][0]} overlays (ratio to {tag_sweep[0][1]} tags, "
        "same changes)",
        sorted((r for r in results.values() if (r.envs, r.tags) in tag_sweep), key=order),
        by_tags,
    )
    print_table(
        f"sweep 3: changes (ratio to the no-op run of the same size, {change_counts[0]} changes)",
        everything,
        by_changes,
    )
    print_phases(everything)
    print_calls(everything)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one extra run of the biggest size"
    )
    parser.add_argument("--top", type=int, default=25, help="profile entries to print")
    args = parser.parse_args(argv)
    overlay_sweep = QUICK_OVERLAY_SWEEP if args.quick else OVERLAY_SWEEP
    tag_sweep = QUICK_TAG_SWEEP if args.quick else TAG_SWEEP
    change_counts = QUICK_CHANGES if args.quick else CHANGES
    sizes = list(dict.fromkeys([*overlay_sweep, *tag_sweep]))

    total = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        root = Path(tmp)
        isolate_git(root / "home")
        with local_world(root) as (github, registry, azurite):
            bench = Bench(root, github, registry, azurite)
            start = time.perf_counter()
            bench.prepare({tags for _, tags in sizes})
            pushed = sum(len(r.tags) for r in bench.image_repos.values())
            print(
                f"setup: {pushed} images pushed, 1 model registered, "
                f"{time.perf_counter() - start:.1f}s",
                flush=True,
            )
            results, profile = measure_all(bench, sizes, change_counts, args.profile)
    report(results, overlay_sweep, tag_sweep, change_counts)
    if profile is not None:
        envs, tags = max(sizes)
        what = f"{envs} overlays, {tags} tags, {max(change_counts)} changes"
        print_profile(profile, args.top, what)
    print(f"\ntotal benchmark time: {time.perf_counter() - total:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
