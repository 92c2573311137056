"""Benchmark: the bot's no-op run at N overlays and T tags, before → after, interleaved rounds.

Issue 20 item 6. bench_bot.py's world and instruments (local GitHub, registry, Azurite; API
calls and git processes counted), only the no-op world: a warm-up round (its first run is
`cold`: the process parses every blob once; the other variant's `warm-up` run is already warm),
then `--rounds` rounds, each running every variant once on the same checkout:
* `before`: the release branches read one environment at a time (`released_pins` per
  environment, one `git rev-parse` each), as before `released_pins_of`;
* `after`: the code as it is.
Run: .venv/bin/python bench/bench_noop.py [--envs 1000 --tags 500 --rounds 3 --profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import bench_bot  # the sibling bench (its directory is on the path when run as a script)

from bot import api, deployments, wiring
from bot.adapters.git import GitRepo
from bot.core.policy import EnvironmentPolicy, PromotionPolicy
from bot.overlay.pins import PINS_CACHE
from bot.policy import NOTIFICATIONS_CACHE, POLICY_CACHE
from bot.settings import Settings

AFTER = deployments.released_pins_of


def _one_by_one(
    repo: GitRepo, policy: PromotionPolicy, envs: Iterable[EnvironmentPolicy]
) -> dict[str, deployments.Released]:
    return {env.name: deployments.released_pins(repo, policy, env) for env in envs}


VARIANTS = {"before": _one_by_one, "after": AFTER}


def new_process_runs(settings: Settings) -> None:
    """A new process on the same checkout (the hourly pipeline): memory caches empty, the
    parsed overlays on disk (`wiring.prepare_checkout`) removed first (`empty disk`) or kept."""
    deployments.released_pins_of = AFTER
    cached = settings.checkout_dir() / ".git" / "promotion-bot" / "cache"
    for label in ("empty disk", "disk", "empty disk", "disk"):
        if label == "empty disk":
            shutil.rmtree(cached, ignore_errors=True)
        for cache in (PINS_CACHE, POLICY_CACHE, NOTIFICATIONS_CACHE):
            cache.clear()
        start = time.perf_counter()
        api.run(settings, now=bench_bot.NOW)
        print(f"   after  new process, {label}: {time.perf_counter() - start:.2f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--envs", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one more `after` run")
    args = parser.parse_args(argv)
    walls: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="bench-noop-") as tmp:
        root = Path(tmp)
        bench_bot.isolate_git(root / "home")
        with bench_bot.local_world(root) as (github, registry, azurite):
            bench = bench_bot.Bench(root, github, registry, azurite)
            bench.prepare({args.tags})
            full_name, remote = bench.seed(args.envs, args.tags, 0)
            settings = bench.settings(full_name, remote)
            wiring.prepare_checkout(str(remote), settings.checkout_dir())
            probe, http = bench_bot.Probe(), bench_bot.HttpCounter()
            probe.install()
            http.install()
            meter = bench_bot.Meter(bench, probe, http)
            size = (args.envs, args.tags, 0, False)
            try:
                print(f"load average {os.getloadavg()[0]:.1f}")
                print(f"{'variant':>8}  {'run':>7}  {'wall s':>7}  {'API calls':>9}  git procs")
                for n in range(args.rounds + 1):
                    for name, read in VARIANTS.items():
                        deployments.released_pins_of = read
                        r = meter.run(settings, size, 0.0)
                        label = f"{n}" if n else "warm-up" if name != "before" else "cold"
                        if n:
                            walls[name].append(r.wall_s)
                        git = dict(r.git_calls)
                        print(
                            f"{name:>8}  {label:>7}  {r.wall_s:7.2f}  {r.api_calls:9}  "
                            f"{r.git} {git}",
                            flush=True,
                        )
                new_process_runs(settings)
                if args.profile:
                    deployments.released_pins_of = AFTER
                    profiler = cProfile.Profile()
                    meter.run(settings, size, 0.0, profiler)
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
                    print(out.getvalue())
            finally:
                deployments.released_pins_of = AFTER
                http.uninstall()
                probe.uninstall()
    print(f"load average {os.getloadavg()[0]:.1f}")
    before, after = (statistics.median(walls[v]) for v in ("before", "after"))
    print(f"warm no-op median: before {before:.2f}s, after {after:.2f}s ({after / before:.2f}x)")
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - start:.0f}s")
    sys.exit(code)
