"""Benchmark: the bot's no-op run at N overlays and T tags, in-process and as a new process.

Issue 20 item 6. bench_bot.py's world and instruments (local GitHub, registry, Azurite; API
calls and git processes counted), only the no-op world. First in this process: a warm-up
round (its first run is `cold`: the process parses every blob once; the other variant's
`warm-up` run is already warm), then `--rounds` rounds, each running every variant once on the
same checkout:
* `before`: the release branches read one environment at a time (`released_pins` per
  environment, one `git rev-parse` each), as before `released_pins_of`;
* `after`: the code as it is.
Then what the hourly pipeline runs: `python -m bot run`, a new process each time, on the same
checkout, with the on-disk cache under `.git/promotion-bot/cache` removed first (`cold`) or
kept from the run before (`warm`); wall time and the process's CPU time (user + sys). Modules
are byte-compiled once into a cache of the bench's own (`PYTHONPYCACHEPREFIX`), as `pip
install` does, so the runs do not compile the project's sources each time. `--before REV` also
runs the code of commit REV (exported with `git archive`) the same way, interleaved. One extra
new-process run, not timed, counts its API calls (HTTP requests by port, through
`bench_bot.HttpCounter` installed in that process; GitHub calls from the local GitHub's log).
Run: .venv/bin/python bench/bench_noop.py [--envs 1000 --tags 500 --rounds 3 --profile]
     .venv/bin/python bench/bench_noop.py --before 95e802a   # new processes: before -> after
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import bench_bot  # the sibling bench (its directory is on the path when run as a script)

from bot import deployments, wiring
from bot.adapters.git import GitRepo
from bot.core.policy import EnvironmentPolicy, PromotionPolicy
from bot.settings import Settings

AFTER = deployments.released_pins_of


def _one_by_one(
    repo: GitRepo, policy: PromotionPolicy, envs: Iterable[EnvironmentPolicy]
) -> dict[str, deployments.Released]:
    return {env.name: deployments.released_pins(repo, policy, env) for env in envs}


VARIANTS = {"before": _one_by_one, "after": AFTER}


BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
# `python -m bot run` with the HTTP requests counted by port (as bench_bot.Meter does)
COUNTED = (
    "import atexit, json, sys, bench_bot\n"
    "counter = bench_bot.HttpCounter()\n"
    "counter.install()\n"
    "atexit.register(lambda: print('COUNTS ' + json.dumps(counter.counts), file=sys.stderr))\n"
    "from bot.cli import main\n"
    "sys.argv = ['promotion-bot', 'run']\n"
    "raise SystemExit(main())\n"
)


@dataclass
class NewProcess:
    """`python -m bot run` in a new process, with the code in `code` (its tree's root)."""

    bench: bench_bot.Bench
    settings: Settings
    pycache: Path

    def environ(self, extra_path: str = "") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(self.settings.environ, PYTHONPYCACHEPREFIX=str(self.pycache))
        env.pop("PYTHONPATH", None)
        if extra_path:
            env["PYTHONPATH"] = extra_path
        return env

    def run(self, code: Path, *, cold: bool) -> tuple[float, float]:
        """(wall s, CPU s) of one no-op run; `cold`: the on-disk cache removed first."""
        if cold:
            cache = self.settings.checkout_dir() / ".git" / "promotion-bot" / "cache"
            shutil.rmtree(cache, ignore_errors=True)
        since = self.bench.github.last_seq()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=code,
            env=self.environ(),
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._check(done, since)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu

    def _check(self, done: subprocess.CompletedProcess[str], since: int) -> None:
        writes = [
            r for r in self.bench.github.requests(since) if r["method"] in bench_bot.WRITE_METHODS
        ]
        if done.returncode != 0 or "nothing to write" not in done.stdout or writes:
            raise RuntimeError(
                f"not a no-op: exit {done.returncode}, {len(writes)} GitHub writes\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )

    def api_calls(self, code: Path) -> dict[str, int]:
        """One more warm run of `code`, not timed, its API calls counted."""
        since = self.bench.github.last_seq()
        done = subprocess.run(
            [sys.executable, "-c", COUNTED],
            cwd=code,
            env=self.environ(f"{code}{os.pathsep}{BENCH}"),
            capture_output=True,
            text=True,
            check=False,
        )
        self._check(done, since)
        line = next(x for x in done.stderr.splitlines() if x.startswith("COUNTS "))
        sent: dict[str, int] = json.loads(line.removeprefix("COUNTS "))
        gh = [r for r in self.bench.github.requests(since) if not r["path"].startswith("/_")]
        azurite = self.bench.azurite.port
        counts = {
            "GitHub": len(gh),
            "registry": sent.get(str(self.bench.registry.port), 0),
            "store": sent.get(f"{azurite}:{bench_bot.MODEL_CONTAINER}", 0),
        }
        return {**counts, "API calls": sum(counts.values())}


def export(rev: str, into: Path) -> Path:
    """The bot's packages as of commit `rev`, to run as `before`."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(PROJECT), "archive", rev, "bot", "modelstore", "cliexit"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def new_process_runs(runner: NewProcess, codes: dict[str, Path], rounds: int) -> None:
    """A warm-up round (compiles the bytecode), then `rounds` rounds: each code cold, then
    warm; interleaved; medians."""
    walls: dict[tuple[str, str], list[tuple[float, float]]] = {}
    print(f"\nnew process: `python -m bot run` (load average {os.getloadavg()[0]:.1f})")
    print(f"{'code':>8}  {'cache':>5}  {'round':>7}  {'wall s':>7}  {'CPU s':>6}  load")
    for n in range(rounds + 1):
        for name, code in codes.items():
            for cold in (True, False):
                wall, cpu = runner.run(code, cold=cold)
                cache = "cold" if cold else "warm"
                if n:
                    walls.setdefault((name, cache), []).append((wall, cpu))
                label = str(n) if n else "warm-up"
                load = os.getloadavg()[0]
                print(
                    f"{name:>8}  {cache:>5}  {label:>7}  {wall:7.2f}  {cpu:6.2f}  {load:4.1f}",
                    flush=True,
                )
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name, code in codes.items():
        print(f"{name:>8}  API calls of a warm new process: {runner.api_calls(code)}")
    for (name, cache), runs in walls.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:>8}  {cache}: median wall {wall:.2f} s, CPU {cpu:.2f} s")


def in_process_rounds(
    meter: bench_bot.Meter, settings: Settings, size: tuple[int, int, int, bool], rounds: int
) -> dict[str, list[float]]:
    """`bot.api.run` in this process, every variant once a round (walls of rounds 1..)."""
    walls: dict[str, list[float]] = {name: [] for name in VARIANTS}
    print(f"in process: bot.api.run (load average {os.getloadavg()[0]:.1f})")
    print(f"{'variant':>8}  {'run':>7}  {'wall s':>7}  {'API calls':>9}  load  git procs")
    for n in range(rounds + 1):
        for name, read in VARIANTS.items():
            deployments.released_pins_of = read
            r = meter.run(settings, size, 0.0)
            label = f"{n}" if n else "warm-up" if name != "before" else "cold"
            if n:
                walls[name].append(r.wall_s)
            print(
                f"{name:>8}  {label:>7}  {r.wall_s:7.2f}  {r.api_calls:9}  "
                f"{os.getloadavg()[0]:4.1f}  {r.git} {dict(r.git_calls)}",
                flush=True,
            )
    deployments.released_pins_of = AFTER
    return walls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--envs", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one more `after` run")
    parser.add_argument("--before", metavar="REV", help="also run commit REV in new processes")
    parser.add_argument("--new-rounds", type=int, default=3, help="rounds of new processes")
    args = parser.parse_args(argv)
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
                walls = in_process_rounds(meter, settings, size, args.rounds)
                runner = NewProcess(bench, settings, root / "pycache")
                codes = {"after": PROJECT}
                if args.before:
                    codes = {"before": export(args.before, root / "before"), **codes}
                new_process_runs(runner, codes, args.new_rounds)
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
    print(
        f"in-process warm no-op median: before {before:.2f}s, after {after:.2f}s "
        f"({after / before:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - start:.0f}s")
    sys.exit(code)
