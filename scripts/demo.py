"""`make demo`: the whole story on the local world, narrated step by step.

Every step runs the project's real commands (the `modelstore` and `promotion-bot` CLIs, the
training example, the image build, `kubectl kustomize`, the service) against real local
services: Azurite, a distribution registry, a local GitHub (or, with `--forge azure-repos`, a
local Azure Repos) over bare Git repositories. Nothing is faked; services are stopped by PID
at the end, even on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from bot.runner import NOW_VARIABLE
from localworld.world import World, start_world

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEV = ("-c", "user.name=Dana Developer", "-c", "user.email=dana@example.invalid")


class DemoError(Exception):
    """A step failed; the message says which command and its output."""


FORGE_NAMES = {"github": "GitHub", "azure-repos": "Azure Repos"}


@dataclass
class Demo:
    root: Path
    forge: str = "github"
    world: World | None = None
    env: dict[str, str] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)
    # the local GitHub's clock offset (its test seam); the bot's clock follows it
    offset: timedelta = timedelta(0)

    def step(self, title: str, action: Callable[[], None]) -> None:
        print(f"\n==> {title}", flush=True)
        started = time.monotonic()
        action()
        took = time.monotonic() - started
        self.timings.append((title, took))
        print(f"    ({took:.1f}s)", flush=True)

    def set_clock(self, offset: timedelta) -> str:
        """Move the local GitHub's clock (`POST /_localworld/clock`, its test seam) and the
        bot's with it (`PROMOTION_BOT_NOW`): time passes without sleeping."""
        self.offset = offset
        url = f"{self.env['GITHUB_API_URL']}/_localworld/clock"
        answer = requests.post(url, json={"offset_seconds": offset.total_seconds()}, timeout=10)
        answer.raise_for_status()
        now: str = answer.json()["now"]
        return now

    def run(
        self, argv: Sequence[str], *, cwd: Path | None = None, show: bool = True, check: bool = True
    ) -> str:
        """Run a command as a user would type it; print it and (indented) what it said."""
        shown = " ".join(Path(a).name if a.startswith(str(BIN)) else a for a in argv)
        if show:
            print(f"    $ {shown}", flush=True)
        env = self.env
        if self.offset and argv[0] == tool("promotion-bot"):  # the same clock as the forge's
            env = {**env, NOW_VARIABLE: (datetime.now(UTC) + self.offset).isoformat()}
        result = subprocess.run(
            list(argv),
            cwd=cwd or self.root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        output = (result.stdout + result.stderr).rstrip()
        if show and output:
            print("      " + output.replace("\n", "\n      "), flush=True)
        if check and result.returncode != 0:
            raise DemoError(f"`{shown}` exited {result.returncode}:\n{output}")
        return result.stdout


def tool(name: str) -> str:
    return str(BIN / name)


# --------------------------------------------------------------------------- steps


def start_services(demo: Demo) -> None:
    demo.world = start_world(demo.root / "world", demo.forge)
    demo.env = {
        **os.environ,
        **demo.world.env,
        "BOT_WORKDIR": str(demo.root / "bot-checkout"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for proc in demo.world.processes:
        print(f"    {proc.name}: pid {proc.pid}")
    api = demo.env.get("FORGE_API_URL") or demo.env["GITHUB_API_URL"]
    print(f"    registry {demo.env['REGISTRY_HOST']}, {FORGE_NAMES[demo.forge]} API {api}")


def train_and_register(
    demo: Demo, version_label: str, seed: int, train_rows: int | None = None
) -> None:
    out = demo.root / f"model-{version_label}"
    demo.facts[f"model_{version_label}"] = str(out)
    rows = ["--train-rows", str(train_rows)] if train_rows else []
    demo.run(
        [
            tool("python"),
            str(ROOT / "examples" / "train.py"),
            "--out",
            str(out),
            "--seed",
            str(seed),
            *rows,
            # the held-out split, registered once as the evaluation set promotion.yaml pins
            "--register-holdout",
            "digits-holdout",
        ]
    )
    # the split is a dataset of its own now (registered above), not a file of the model
    (out / "holdout.npz").unlink()
    metrics = json.loads((out / "metrics.json").read_text())
    demo.run(
        [
            tool("modelstore"),
            "register",
            "digits",
            str(out),
            "--metric",
            f"accuracy={metrics['accuracy']}",
            "--tag",
            f"seed={seed}",
            "--description",
            f"digits classifier, seed {seed}",
        ]
    )
    demo.run([tool("modelstore"), "show", "digits", "latest"])


def seed_gitops_repo(demo: Demo) -> None:
    """The GitOps repository is this project itself (a monorepo: app code + deploy tree)."""
    remote = demo.env["GITOPS_REMOTE"]
    demo.run(["git", "-C", str(ROOT), "push", "--quiet", remote, "HEAD:refs/heads/main"])
    work = demo.root / "dana"
    demo.run(["git", "clone", "--quiet", remote, str(work)])
    demo.facts["work"] = str(work)
    revision = demo.run(["git", "-C", str(work), "rev-parse", "HEAD"], show=False).strip()
    demo.facts["rev1"] = revision
    print(f"    pushed this project's history to {_repository(demo)} (main at {revision[:12]})")


def _repository(demo: Demo) -> str:
    return demo.env.get("FORGE_REPOSITORY") or demo.env["GITHUB_REPOSITORY"]


def build_image(demo: Demo, key: str, context: Path) -> None:
    from scripts.build_image import BuildSpec, build_and_push, default_tag

    revision = demo.run(["git", "-C", str(context), "rev-parse", "HEAD"], show=False).strip()
    count = demo.run(["git", "-C", str(context), "rev-list", "--count", "HEAD"], show=False)
    tag = default_tag("0.1.0", count.strip(), revision)
    print(f"    buildah bud (vfs, chroot) from {context.name} at {revision[:12]} -> {tag}")
    result = build_and_push(
        BuildSpec(
            registry=demo.env["REGISTRY_HOST"],
            tag=tag,
            revision=revision,
            version="0.1.0",
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            context=context,
            keep_local=True,
        )
    )
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    print(f"    pushed {result.reference}@{result.digest} ({timing})")
    demo.facts[f"{key}_tag"] = tag
    demo.facts[f"{key}_digest"] = str(result.digest)


def pin_everything(demo: Demo) -> None:
    work = Path(demo.facts["work"])
    image = (
        f"modelops-app={demo.env['REGISTRY_HOST']}/modelops-app:"
        f"{demo.facts['image1_tag']}@{demo.facts['image1_digest']}"
    )
    from modelstore import ModelStore

    sha256 = ModelStore.from_env(demo.env).get_manifest("digits", 1).primary_sha256
    for env in ("dev", "staging", "prod"):
        demo.run(
            [
                tool("promotion-bot"),
                "set",
                f"deploy/overlays/{env}/kustomization.yaml",
                "--image",
                image,
                "--literal",
                "model-pin:MODEL_VERSION=1",
                "--literal",
                f"model-pin:MODEL_SHA256={sha256}",
            ],
            cwd=work,
        )
    demo.run(["git", "-C", str(work), "diff", "--stat"])
    demo.run(
        [
            "git",
            "-C",
            str(work),
            *DEV,
            "commit",
            "--quiet",
            "-am",
            "deploy: pin image 1 and model v1 in every environment",
        ]
    )
    demo.run(["git", "-C", str(work), "push", "--quiet", "origin", "main"])


def developer_commit(demo: Demo) -> None:
    work = Path(demo.facts["work"])
    note = work / "app" / "CHANGES.demo"
    note.write_text("predict: answer the model version in every response\n")
    demo.run(["git", "-C", str(work), "add", "app/CHANGES.demo"])
    demo.run(
        [
            "git",
            "-C",
            str(work),
            *DEV,
            "commit",
            "--quiet",
            "-m",
            "app: note the model version in every response",
        ]
    )
    demo.run(["git", "-C", str(work), "push", "--quiet", "origin", "main"])
    ci = demo.root / "ci-checkout"
    demo.run(["git", "clone", "--quiet", demo.env["GITOPS_REMOTE"], str(ci)])
    demo.facts["ci"] = str(ci)


def evaluate_before_alias(demo: Demo) -> None:
    """What the bot will measure, before any alias: `modelstore evaluate`."""
    demo.run([tool("modelstore"), "evaluate", "digits", "2", "--dataset", "digits-holdout@1"])


def inflated_claim(demo: Demo) -> None:
    """A registration claiming 0.99 for the weaker v1 file: the bot measures and refuses it."""
    demo.run(
        [
            tool("modelstore"),
            "register",
            "digits",
            demo.facts["model_v1"],
            "--metric",
            "accuracy=0.99",
            "--description",
            "claims 0.99 (the v1 file)",
        ]
    )
    planned = demo.run([tool("promotion-bot"), "plan"])
    if "claimed accuracy 0.99, measured" not in planned:
        raise DemoError("the bot did not refuse the inflated claim with the measured figure")
    demo.run([tool("promotion-bot"), "run"])


def bot_run(demo: Demo) -> None:
    demo.run([tool("promotion-bot"), "plan"])
    demo.run([tool("promotion-bot"), "run", "--dry-run"])
    demo.run([tool("promotion-bot"), "run"])


def show_pr(demo: Demo) -> None:
    from bot.adapters.forges import make_forge
    from bot.settings import Settings

    forge = make_forge(Settings.from_env(demo.env))  # the forge BOT_FORGE names
    pr = forge.get_pr(1)
    print(f"    PR #{pr.number} [{pr.state}{', merged' if pr.merged else ''}] {pr.title}")
    print(f"    labels: {', '.join(pr.labels)}")
    body = pr.body.split("<!-- promotion-bot:")[0].rstrip()
    print("      | " + body.replace("\n", "\n      | "))
    if not pr.merged:
        sha = forge.merge_pr(pr.number, sha=pr.head_sha, method="squash")
        print(f"    reviewer merged it: main is now {sha[:12]}")


def next_friday_afternoon(now: datetime) -> datetime:
    """The next Friday 13:00 UTC: inside prod's shipped weekend freeze (Friday 12:00 UTC for
    68h) and before staging's (Friday 18:00 UTC), so prod stays frozen while staging ships."""
    days = (4 - now.weekday()) % 7 or 7
    return (now + timedelta(days=days)).replace(hour=13, minute=0, second=0, microsecond=0)


def nightly_release(demo: Demo) -> None:
    now = datetime.now(UTC)
    friday = next_friday_afternoon(now)
    forge_now = demo.set_clock(friday - now)
    print(f"    the local GitHub's clock (and the bot's) now reads {forge_now} (a Friday)")
    demo.run([tool("promotion-bot"), "release"])


def render_released(demo: Demo) -> None:
    released = demo.root / "released"
    demo.run(
        [
            "git",
            "clone",
            "--quiet",
            "--branch",
            "release/dev",
            demo.env["GITOPS_REMOTE"],
            str(released),
        ],
        show=False,
    )
    demo.facts["dev_release_commit"] = demo.run(
        ["git", "-C", str(released), "rev-parse", "HEAD"], show=False
    ).strip()
    rendered = demo.run(["kubectl", "kustomize", str(released / "deploy/overlays/dev")], show=False)
    print("    $ kubectl kustomize deploy/overlays/dev   (on release/dev)")
    for line in rendered.splitlines():
        text = line.strip()
        if text.startswith(("image:", "MODEL_VERSION", "MODEL_SHA256")):
            print(f"      {text}")
            if text.startswith("MODEL_VERSION"):
                demo.facts["released_version"] = text.split(":", 1)[1].strip().strip('"')
            if text.startswith("MODEL_SHA256"):
                demo.facts["released_sha"] = text.split(":", 1)[1].strip().strip('"')
            if text.startswith("image:"):
                demo.facts["released_image"] = text.split(":", 1)[1].strip()
    (demo.root / "rendered-dev.yaml").write_text(rendered)


def flux_confirms_dev(demo: Demo) -> None:
    """What Flux's notification-controller posts once dev's Kustomization applied release/dev
    and its health checks passed (docs/deployment-confirmation.md): it lists the commit's
    statuses, then POSTs {state, description, context} on that commit. No cluster runs here,
    so the demo sends exactly that request."""
    sha = demo.facts["dev_release_commit"]
    api = f"{demo.env['GITHUB_API_URL']}/repos/{demo.env['GITHUB_REPOSITORY']}"
    headers = {"Authorization": f"token {demo.env['GITHUB_TOKEN']}"}
    listed = requests.get(
        f"{api}/commits/{sha}/statuses", params={"per_page": "50"}, headers=headers, timeout=10
    )
    listed.raise_for_status()
    body = {
        "state": "success",
        "description": "reconciliation succeeded",
        "context": "kustomization/modelops-dev/aks-modelops",
    }
    posted = requests.post(f"{api}/statuses/{sha}", json=body, headers=headers, timeout=10)
    posted.raise_for_status()
    print(f"    POST /repos/…/statuses/{sha[:12]} {json.dumps(body)}")
    print(f"    GitHub recorded it at {posted.json()['created_at']}")


def staging_waits_for_soak(demo: Demo) -> None:
    out = demo.run([tool("promotion-bot"), "plan"])
    if "eligible at" not in out:
        raise DemoError("staging should be held for soak with the time it becomes eligible")


def advance_clock(demo: Demo) -> None:
    forge_now = demo.set_clock(demo.offset + timedelta(hours=2))
    print(f"    POST /_localworld/clock: GitHub's clock (and the bot's) now reads {forge_now}")


def staging_promoted_and_released(demo: Demo) -> None:
    from bot.adapters.forges import make_forge
    from bot.settings import Settings

    demo.run([tool("promotion-bot"), "run"])
    forge = make_forge(Settings.from_env(demo.env))
    pr = forge.find_open_pr("promote/staging", "main")
    if pr is None:
        raise DemoError("the bot opened no staging PR after the soak")
    print(f"    PR #{pr.number} {pr.title}")
    sha = forge.merge_pr(pr.number, sha=pr.head_sha, method="squash")
    print(f"    reviewer merged it: main is now {sha[:12]}")
    out = demo.run([tool("promotion-bot"), "release"])
    if "staging: release" not in out or "prod: wait" not in out:
        raise DemoError("staging should ship while prod stays frozen")


def serve_released(demo: Demo) -> None:
    from scripts.run_image import predict_with_image

    answer = predict_with_image(
        image=demo.facts["released_image"],
        cache=ROOT / "build" / "image",
        model_name="digits",
        model_version=demo.facts["released_version"],
        model_sha256=demo.facts["released_sha"],
        env=demo.env,
        workdir=demo.root / "serve",
    )
    for line in answer.lines:
        print(f"    {line}")
    if not answer.correct:
        raise DemoError("the released image misclassified the known digits")


def status(demo: Demo) -> None:
    demo.run([tool("promotion-bot"), "status"])


def dashboard_and_report(demo: Demo) -> None:
    """The dashboard issue's table, then the HTML report and a headless Chromium screenshot
    of it (kept under build/demo-report/, which outlives the demo's temporary directory)."""
    demo.run([tool("promotion-bot"), "dashboard", "--show"])
    out = ROOT / "build" / "demo-report"
    demo.run([tool("promotion-bot"), "report", "--out", str(out)])
    shot = out / "report.png"
    demo.run(
        [
            sys.executable,
            "-m",
            "scripts.headless",
            str(out / "index.html"),
            "--screenshot",
            str(shot),
        ],
        cwd=ROOT,
    )
    print(f"    report:     {out / 'index.html'}")
    print(f"    screenshot: {shot}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo")
    parser.add_argument("--forge", choices=sorted(FORGE_NAMES), default="github")
    args = parser.parse_args(argv)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="modelops-demo-"))
    demo = Demo(tmp, forge=args.forge)
    where = FORGE_NAMES[demo.forge]
    failed: BaseException | None = None
    try:
        demo.step(
            f"Start the local world (Azurite, registry, local {where})",
            lambda: start_services(demo),
        )
        demo.step(
            "Data scientist trains model v1 (300 training rows), registers it and the held-out set",
            lambda: train_and_register(demo, "v1", seed=0, train_rows=300),
        )
        demo.step(
            f"Seed the GitOps repository (this monorepo) on the local {where}",
            lambda: seed_gitops_repo(demo),
        )
        demo.step(
            "CI builds image 1 with buildah and pushes it",
            lambda: build_image(demo, "image1", Path(demo.facts["work"])),
        )
        demo.step(
            "Pin image 1 + model v1 in every overlay (promotion-bot set)",
            lambda: pin_everything(demo),
        )
        demo.step("App developer pushes a commit", lambda: developer_commit(demo))
        demo.step(
            "CI builds image 2 from that commit and pushes it",
            lambda: build_image(demo, "image2", Path(demo.facts["ci"])),
        )
        demo.step(
            "Data scientist registers model v2 (every training row: better accuracy)",
            lambda: train_and_register(demo, "v2", seed=0),
        )
        demo.step(
            "Data scientist checks what the bot will measure (modelstore evaluate)",
            lambda: evaluate_before_alias(demo),
        )
        demo.step("The scheduled bot plans and opens the dev promotion PR", lambda: bot_run(demo))
        demo.step("The PR a reviewer reads", lambda: show_pr(demo))
        demo.step(
            "Nightly release (a Friday afternoon) validates main and moves release/dev only",
            lambda: nightly_release(demo),
        )
        demo.step("Render the released dev overlay", lambda: render_released(demo))
        demo.step(
            "Run the released image with the released model on loopback",
            lambda: serve_released(demo),
        )
        demo.step(
            "A registration claims accuracy 0.99 for the weaker file: the bot measures, refuses",
            lambda: inflated_claim(demo),
        )
        demo.step("Dev's Flux reports release/dev healthy", lambda: flux_confirms_dev(demo))
        demo.step(
            "Staging is held for soak, with the exact time it becomes eligible",
            lambda: staging_waits_for_soak(demo),
        )
        demo.step("Two hours pass (the local GitHub's clock seam)", lambda: advance_clock(demo))
        demo.step(
            "Staging promoted, merged and released; prod stays frozen",
            lambda: staging_promoted_and_released(demo),
        )
        demo.step("promotion-bot status", lambda: status(demo))
        demo.step(
            "The dashboard issue and the HTML report (with a browser's screenshot)",
            lambda: dashboard_and_report(demo),
        )
    except (DemoError, Exception) as exc:  # report and still clean up
        failed = exc
    finally:
        if demo.world is not None:
            demo.world.stop()
            print("\n==> Services stopped")
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nSummary")
    for title, took in demo.timings:
        print(f"  {took:6.1f}s  {title}")
    print(f"  {time.monotonic() - started:6.1f}s  total")
    if failed is not None:
        print(f"\ndemo failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
