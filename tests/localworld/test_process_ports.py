"""`free_port` under pytest-xdist: each worker's ports come from its own block."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from localworld.errors import ServiceStartError
from localworld.process import LOOPBACK, free_port


@pytest.mark.parametrize(("worker", "low"), [("gw0", 20000), ("gw1", 21500), ("gw7", 30500)])
def test_an_xdist_worker_takes_ports_from_its_own_block_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch, worker: str, low: int
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    ports = {free_port() for _ in range(20)}
    assert all(low <= port < low + 1500 for port in ports), ports
    assert len(ports) > 1  # chosen at random, not the first free one each time


def test_outside_xdist_the_kernel_picks_an_ephemeral_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert low <= free_port() <= high


def test_a_port_in_use_is_never_handed_out_and_a_full_block_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw6")  # 29000-30499, unused by this run's workers
    held: list[socket.socket] = []
    try:
        for port in range(29000, 30500):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
        with pytest.raises(ServiceStartError, match="29000-30499"):
            free_port()
        free = held.pop()
        free.close()
        taken = {s.getsockname()[1] for s in held}
        assert free_port() not in taken
    finally:
        for sock in held:
            sock.close()
