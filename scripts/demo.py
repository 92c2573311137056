"""`make demo`: the whole story on the local world, narrated step by step.

Each step is a function; the demo runs them in order, times them, and prints a summary. Steps
only run what exists in the project; nothing is faked.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from localworld.world import World, start_world


@dataclass
class Demo:
    root: Path
    world: World | None = None
    timings: list[tuple[str, float]] = field(default_factory=list)

    def step(self, title: str, action: Callable[[], str]) -> None:
        print(f"\n==> {title}", flush=True)
        started = time.monotonic()
        said = action()
        took = time.monotonic() - started
        self.timings.append((title, took))
        if said:
            print(said, flush=True)
        print(f"    ({took:.1f}s)", flush=True)


def start_services(demo: Demo) -> str:
    demo.world = start_world(demo.root / "world")
    names = ", ".join(f"{p.name} (pid {p.pid})" for p in demo.world.processes)
    return f"    started on 127.0.0.1: {names}"


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelops-demo-") as tmp:
        demo = Demo(Path(tmp))
        try:
            demo.step(
                "Start the local world (Azurite, registry, git remotes)",
                lambda: start_services(demo),
            )
        finally:
            if demo.world is not None:
                demo.world.stop()
                print("\n==> Services stopped")
    print("\nSummary")
    for title, took in demo.timings:
        print(f"  {took:6.1f}s  {title}")
    print(f"  {time.monotonic() - started:6.1f}s  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
