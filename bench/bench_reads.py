"""Benchmark: the bot's read of a GitOps repo with N overlays (policy, pins, rollback history),
cold and warm, this tree vs `--before REF`, interleaved rounds in one run.

What issue 20 item 6 asks of a no-op run at 1,000 overlays: the read is what grows with the
overlays (API calls do not: bench_bot.py). Here only that read runs — `read_policy`,
`read_state`, `read_rollbacks` of `bot.world` on a local clone, no services — in a child
process per variant and round, so each variant runs its own code (`--before REF` is
`git archive REF`) and starts cold; each child reads twice: `cold` (first read in a process,
what the hourly run pays) and `warm` (the same blobs again: what a second read in the same
process pays, e.g. the run's retry from a fresh read or `status` after `run`). The repository
is bench_bot.py's generated world (a chain of N environments, one commit).

Run: .venv/bin/python bench/bench_reads.py [--envs 1000] [--rounds 3] [--before REF]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PHASES = ("policy", "state", "rollbacks")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(root: Path, envs: int) -> Path:
    """bench_bot.py's generated GitOps tree, pushed to a bare remote and cloned: the clone."""
    from bench_bot import OVERLAY, env_name, policy_text

    seed = root / "seed"
    seed.mkdir(parents=True)
    _git(seed, "init", "-q", "-b", "main")
    (seed / "promotion.yaml").write_text(policy_text(envs, "127.0.0.1:5000", "bench/app"))
    for i in range(envs):
        name = env_name(i)
        overlay = seed / "deploy" / "overlays" / name / "kustomization.yaml"
        overlay.parent.mkdir(parents=True)
        fields = {
            "env": name,
            "env_short": name.replace("-", ""),
            "new_name": "127.0.0.1:5000/bench/app",
            "tag": "0.1.0-5-abcdef1",
            "digest": "sha256:" + "a" * 64,
            "model": "digits",
            "version": 1,
            "sha": "b" * 64,
        }
        overlay.write_text(OVERLAY.format(**fields))
    _git(seed, "add", ".")
    _git(seed, "-c", "user.name=bench", "-c", "user.email=bench@x.invalid", "commit", "-qm", "seed")
    _git(root, "clone", "-q", "--bare", str(seed), str(root / "remote.git"))
    _git(root, "clone", "-q", str(root / "remote.git"), str(root / "checkout"))
    return root / "checkout"


def worker(checkout: Path) -> None:
    """In the child: read twice, print the seconds of each phase as JSON."""
    from bot import world
    from bot.adapters.git import GitRepo

    repo, ref = GitRepo(checkout), "refs/remotes/origin/main"
    out = {}
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        policy = world.read_policy(repo, ref, "promotion.yaml", None)
        t1 = time.perf_counter()
        state, _ = world.read_state(repo, ref, policy)
        t2 = time.perf_counter()
        world.read_rollbacks(repo, ref, policy, state)
        t3 = time.perf_counter()
        out[label] = {"policy": t1 - t0, "state": t2 - t1, "rollbacks": t3 - t2}
    print(json.dumps(out))


def run_variant(code: Path, checkout: Path) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(checkout)],
        cwd=code, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, dict[str, float]] = json.loads(done.stdout.splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--envs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="a git ref whose bot/ to compare against")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        root = Path(tmp)
        checkout = make_repo(root / "world", args.envs)
        variants = {"after": PROJECT}
        if args.before:
            before = root / "before"
            before.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(PROJECT), "archive", args.before], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
            variants = {"before": before, "after": PROJECT}
        samples: dict[str, list[dict[str, dict[str, float]]]] = {v: [] for v in variants}
        for n in range(args.rounds):
            for name, code in variants.items():  # interleaved: before, after, before, ...
                samples[name].append(run_variant(code, checkout))
                print(f"  round {n + 1} {name}: done", flush=True)
    print(f"\nread of {args.envs} overlays, median of {args.rounds} rounds, seconds")
    print(f"{'variant':>8} {'read':>5} " + " ".join(f"{p:>9}" for p in PHASES) + f" {'total':>7}")
    totals: dict[tuple[str, str], float] = {}
    for name, runs in samples.items():
        for label in ("cold", "warm"):
            med = {p: statistics.median(r[label][p] for r in runs) for p in PHASES}
            total = statistics.median(sum(r[label].values()) for r in runs)
            totals[(name, label)] = total
            cells = " ".join(f"{med[p]:>9.3f}" for p in PHASES)
            print(f"{name:>8} {label:>5} {cells} {total:>7.3f}")
    if "before" in samples:
        for label in ("cold", "warm"):
            ratio = totals[("after", label)] / totals[("before", label)]
            print(f"after / before, {label}: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
