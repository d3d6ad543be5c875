"""A tmux server stopped (SIGSTOP): every call gives up within its timeout, the breaker opens.

A stopped server holds each client's stdout, handed to it over its socket: reading a killed
client's output to end of file would wait for ever. Calls run in threads joined with a bound
here, so that a regression fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saga_jupyter.core.engine import Engine
from saga_jupyter.core.errors import TmuxUnavailable
from saga_jupyter.core.settings import resolve
from saga_jupyter.core.tmux.client import EXIT_GRACE, FAILURES_BEFORE_BACKOFF, Tmux
from tests.harness import children
from tests.helpers import start_worker, wait_until

TIMEOUT = 0.5
BOUND = TIMEOUT + EXIT_GRACE + 1.5  # the timeout, reaping the killed client, a loaded machine


def call_bounded(function: Callable[[], Any]) -> tuple[float, BaseException | None]:
    """How long ``function`` took, and what it raised; fails if it is still running at 10 s."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            function()
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the tmux call still runs after 10 s"
    return time.monotonic() - started, outcome[0]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_calls_to_a_stopped_tmux_end_within_the_timeout(server: Any, stop_tmux: Any) -> None:
    start_worker(server, "saga__e__hang__1")
    stop_tmux()
    tmux = Tmux(server.socket_name, timeout=TIMEOUT)
    before = open_descriptors()
    for call in (tmux.list_sessions, lambda: tmux.run("display-message", "-p", "x")):
        took, error = call_bounded(call)
        assert isinstance(error, TmuxUnavailable) and "did not answer" in str(error)
        assert took < BOUND, f"{took:.1f} s"
    assert open_descriptors() == before  # each killed client's pipes were closed, not leaked
    assert tmux.error is not None and "did not answer" in tmux.error
    for _ in range(FAILURES_BEFORE_BACKOFF - 2):
        call_bounded(tmux.list_sessions)
    # The breaker is open: not asked at all, and it says so.
    took, error = call_bounded(tmux.list_sessions)
    assert isinstance(error, TmuxUnavailable) and "next try in" in str(error)
    assert took < 0.1
    assert tmux.backoff is not None and tmux.error is not None and "next try in" in tmux.error


def test_close_ends_a_call_to_a_stopped_tmux_at_once(server: Any, stop_tmux: Any) -> None:
    start_worker(server, "saga__e__hang__1")
    stop_tmux()
    tmux = Tmux(server.socket_name, timeout=30)
    threading.Timer(0.3, tmux.close).start()
    took, error = call_bounded(tmux.list_sessions)
    assert isinstance(error, TmuxUnavailable) and "stopped" in str(error)
    assert took < 0.3 + EXIT_GRACE + 1


def test_an_engine_reads_on_while_its_scan_waits_for_a_stopped_tmux(
    server: Any, stop_tmux: Any, output_dir: Path
) -> None:
    name = "saga__e__follow__1"
    path = output_dir / f"{name}.out"
    path.write_text("")
    start_worker(server, name)
    engine = Engine(resolve(output_dir, server.socket_name))  # its own, not the process's
    texts: list[str] = []
    follower = engine.follower(name, 0, on_chunk=lambda chunk: texts.append(chunk.data))
    engine.follow(follower, 0.1)
    try:
        wait_until(lambda: name in engine.by_name)
        stop_tmux()
        # A scan is under way, waiting for tmux (for its timeout, 5 s): write now.
        wait_until(lambda: any(c.startswith("tmux") for _, c in children(os.getpid())))
        with path.open("a") as file:
            file.write("during\n")
        wait_until(lambda: "".join(texts) == "during\n", timeout=2)
    finally:
        follower.close()
