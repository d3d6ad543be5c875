"""The server against hostile output directories: links, others' directories, a stuck scan."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server
from tornado.httpclient import HTTPClientError

from saga_jupyter.server import poller as poller_module
from tests.helpers import Channel, bound_socket, saga_config, start_worker, wait_for

POLL = 0.3
NAME = "saga__e__s__1"


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=POLL)


async def status(jp_fetch: Any) -> Any:
    return json.loads((await jp_fetch("api", "saga", "status")).body)


@pytest.mark.parametrize("kind", ["symbolic link", "hard link", "socket"])
async def test_what_is_no_output_file_is_served_nowhere(
    jp_fetch: Any,
    jp_ws_fetch: Any,
    saga_app: Any,
    server: Server,
    output_dir: Path,
    tmp_path: Path,
    kind: str,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private key\n")
    path = output_dir / f"{NAME}.out"
    with contextlib.ExitStack() as stack:
        if kind == "symbolic link":
            path.symlink_to(secret)
        elif kind == "hard link":  # another name of the secret itself: only its count tells
            os.link(secret, path)
        else:
            stack.enter_context(bound_socket(path))  # open(2) fails with ENXIO: was a 500
        start_worker(server, NAME)
        info = await wait_for(lambda: saga_app.poller.by_name.get(NAME), timeout=POLL + 3)
        assert (info.status, info.output_available, info.output_preview) == ("running", False, None)
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("api", "saga", "sessions", NAME, "log")
        assert caught.value.code == 404
        assert json.loads(caught.value.response.body)["message"] == f"{NAME} has no output file"
        channel = await Channel.open(jp_ws_fetch)
        frame = await channel.subscribe(NAME)
        assert frame["type"] == "logs:error" and "no output file" in frame["error"]
        listed = (await jp_fetch("api", "saga", "sessions")).body.decode()
        assert "private key" not in listed
        channel.close()


async def test_an_output_directory_others_can_write_to_is_reported(
    jp_fetch: Any, saga_app: Any, output_dir: Path
) -> None:
    output_dir.chmod(0o700)
    await wait_for(lambda: saga_app.poller.last_poll, timeout=POLL + 3)
    assert (await status(jp_fetch))["outputDirWarning"] is None
    output_dir.chmod(0o777)

    async def warned() -> Any:
        return (await status(jp_fetch))["outputDirWarning"]

    warning = await wait_for(warned, timeout=POLL + 3)
    assert warning == "writable by other users (mode 0777): chmod 700 it"


async def test_a_stuck_scan_neither_holds_up_the_stop_nor_the_exit(
    saga_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A scan stuck in the kernel (a hung file system, say): simulated by a scan that waits.
    release = threading.Event()
    stuck = threading.Event()

    def stuck_scan() -> list[Any]:
        stuck.set()
        release.wait(60)
        return []

    monkeypatch.setattr(saga_app.poller.discovery, "scan", stuck_scan)
    monkeypatch.setattr(poller_module, "STOP_TIMEOUT", 0.5)
    saga_app.poller.request_scan()
    await wait_for(stuck.is_set)
    (thread,) = [t for t in threading.enumerate() if t.name == "saga-scan"]
    assert thread.daemon  # the interpreter's exit does not join it
    started = time.monotonic()
    await asyncio.wait_for(saga_app.stop_extension(), timeout=5)
    assert time.monotonic() - started < 2
    release.set()
