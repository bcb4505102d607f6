"""Connect timeout against a real loopback listener whose accept backlog is full (SYNs go unanswered)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from syndication.intake.fetch import FetchError, FetchPolicy, fetch


@pytest.fixture
def unanswering_port() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)  # never accepted: once the backlog is full the kernel drops further SYNs
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.1)
    try:
        yield port
    finally:
        for c in fillers:
            c.close()
        server.close()


def test_connect_timeout_is_named(unanswering_port: int) -> None:
    policy = FetchPolicy(allow_private_addresses=True, connect_timeout=0.5, read_timeout=5)
    with pytest.raises(FetchError) as info:
        fetch(f"http://127.0.0.1:{unanswering_port}/feed.rss", policy)
    assert info.value.reason.startswith("connect timeout:")
    assert "0.5s" in info.value.reason
