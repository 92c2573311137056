"""`bench_service.py --proxy`: the service behind the pod's shipped nginx (deploy/base/nginx.conf,
started as tests/deploy/test_proxy.py starts it, via localworld.pod_proxy) in front of the same
app server (`python -m app.server`, granian), interleaved with the direct runs; and the serving
processes' CPU time per request, read from /proc/<pid>/stat (the machine is shared: req/s swings,
CPU time per request much less)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_runs import Load, best, median_cpu_ms, paired_ratio, peak

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def stat_cpu_seconds(stat: str) -> tuple[int, float]:
    """(process group, CPU seconds: user + system, own + reaped children's) of one stat line."""
    fields = stat.rpartition(")")[2].split()  # the command name may contain spaces
    pgrp = int(fields[2])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return pgrp, (utime + stime + cutime + cstime) / CLOCK_TICKS


def group_cpu_seconds(groups: Iterable[int]) -> float:
    """CPU seconds of every live process in these process groups (a server started in its own
    session: master and workers; workers that exited count in their reaped parent's figures)."""
    wanted = set(groups)
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgrp, seconds = stat_cpu_seconds((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # exited while being read
        if pgrp in wanted:
            total += seconds
    return total


def nginx_command(listen: int, upstream: int, scratch: Path) -> list[str]:
    """The shipped config rendered for these loopback ports, and the argv that runs it."""
    from localworld.pod_proxy import nginx_argv, write_config  # ROOT is on sys.path by now

    return nginx_argv(write_config(listen, upstream, scratch))


def proxy_rows(results: list[Load]) -> tuple[list[str], dict[str, Any]]:
    """The proxied-vs-direct table's lines, and the same figures for service.json."""
    header = (
        f"{'scenario':11} {'direct':>8} {'p50/p99 ms':>13} {'proxied':>8} {'p50/p99 ms':>13}"
        f" {'prx/dir':>7} {'(peak)':>6} {'prx/bare':>8} {'dir/bare':>8}"
        f" {'cpu ms/req dir':>14} {'prx':>6} {'prx/dir':>7} {'app':>6} {'app/dir':>7}"
    )
    lines, summary = [header], {}
    for scenario in ("predict-1", "predict-64", "score-1"):
        direct, proxied = best(results, "service", scenario), best(results, "proxied", scenario)
        if direct is None or proxied is None:
            continue
        figures = {
            "proxied_over_direct_paired_median": paired_ratio(
                results, scenario, "proxied", "service"
            ),
            "proxied_over_direct_peak": peak(results, "proxied", scenario)
            / peak(results, "service", scenario),
            "proxied_over_bare_paired_median": paired_ratio(results, scenario, "proxied", "bare"),
            "direct_over_bare_paired_median": paired_ratio(results, scenario, "service", "bare"),
            "cpu_ms_per_request_direct": median_cpu_ms(results, "service", scenario),
            "cpu_ms_per_request_proxied": median_cpu_ms(results, "proxied", scenario),
            "cpu_ms_per_request_proxied_app_server_only": median_cpu_ms(
                results, "proxied", scenario, app_only=True
            ),
            "cpu_ms_per_request_bare": median_cpu_ms(results, "bare", scenario),
        }
        cpu_proxied = figures["cpu_ms_per_request_proxied"]
        cpu_direct = figures["cpu_ms_per_request_direct"]
        cpu_app = figures["cpu_ms_per_request_proxied_app_server_only"]
        summary[scenario] = {"direct": asdict(direct), "proxied": asdict(proxied), **figures}
        lines.append(
            f"{scenario:11} {direct.requests_per_s:8.0f} {direct.p50_ms:6.2f}/{direct.p99_ms:6.2f}"
            f" {proxied.requests_per_s:8.0f} {proxied.p50_ms:6.2f}/{proxied.p99_ms:6.2f}"
            f" {figures['proxied_over_direct_paired_median']:7.2f}"
            f" {figures['proxied_over_direct_peak']:6.2f}"
            f" {figures['proxied_over_bare_paired_median']:8.2f}"
            f" {figures['direct_over_bare_paired_median']:8.2f}"
            f" {_ms(figures['cpu_ms_per_request_direct']):>14} "
            f"{_ms(figures['cpu_ms_per_request_proxied']):>6}"
            f" {_ratio(cpu_proxied, cpu_direct)} {_ms(cpu_app):>6} {_ratio(cpu_app, cpu_direct)}"
        )
    return lines, summary


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ratio(num: float | None, den: float | None) -> str:
    return "    n/a" if num is None or not den else f"{num / den:7.2f}"
