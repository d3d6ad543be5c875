"""Kernels started by the server look where it looks: its output_dir, tmux socket and store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.settings import OUTPUT_DIR_ENV, STATE_FILE_ENV, TMUX_SOCKET_ENV
from tests.helpers import saga_config, start_worker

CODE = """
import saga_jupyter as saga
print(sorted(info.name for info in saga.list_sessions()))
"""


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path, tmp_path: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, state_file=str(tmp_path / "server-store.json"))


async def run_in_kernel(serverapp: Any, code: str) -> str:
    """Run ``code`` in a kernel the server starts (as a notebook's is); its printed output."""
    manager = serverapp.kernel_manager
    kernel_id = await manager.start_kernel(kernel_name="python3")
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    printed: list[str] = []

    def keep(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append("\n".join(message["content"]["traceback"]))

    try:
        await client.wait_for_ready(timeout=60)
        await client.execute_interactive(code, output_hook=keep, timeout=60)
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(kernel_id, now=True)
    return "".join(printed)


async def test_a_notebook_lists_the_servers_sessions_with_no_step_of_its_own(
    jp_serverapp: Any, saga_app: Any, server: Server, output_dir: Path, tmp_path: Path
) -> None:
    (output_dir / "saga__docs__done__1.out").write_text("finished\n")
    start_worker(server, "saga__docs__running__2")
    printed = await run_in_kernel(jp_serverapp, CODE)
    assert printed.strip() == "['saga__docs__done__1', 'saga__docs__running__2']"


def test_the_environment_is_restored_when_the_extension_stops(
    saga_app: Any, output_dir: Path
) -> None:
    # While it runs, the server's settings are what kernels inherit; afterwards, the test's.
    assert os.environ[OUTPUT_DIR_ENV] == str(output_dir)
    assert os.environ[TMUX_SOCKET_ENV] == saga_app.tmux_socket_name
    assert os.environ[STATE_FILE_ENV] == saga_app.state_file
