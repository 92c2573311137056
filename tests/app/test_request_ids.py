"""New request ids are drawn from os.urandom in batches: still 32 hex digits, never repeated
across threads, and never shared by a forked child and its parent."""

from __future__ import annotations

import os
import re
import threading

from app.hooks import request_id_for

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_new_ids_are_32_hex_digits_and_distinct_across_batches() -> None:
    ids = [request_id_for(None) for _ in range(500)]
    assert all(HEX32.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert request_id_for("client-id.1") == "client-id.1"
    assert HEX32.fullmatch(request_id_for("not clean!"))


def test_threads_never_get_the_same_id() -> None:
    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(out: list[str]) -> None:
        out.extend(request_id_for(None) for _ in range(1000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for out in drawn for i in out]
    assert len(set(everything)) == len(everything) == 8000


def test_a_forked_child_does_not_reuse_the_ids_its_parent_drew() -> None:
    request_id_for(None)  # the parent now holds a batch of drawn ids
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        os.write(write, "".join(request_id_for(None) for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(child, 0)
    in_child = {text[i : i + 32] for i in range(0, len(text), 32)}
    assert len(in_child) == 10
    assert in_child.isdisjoint(request_id_for(None) for _ in range(10))
