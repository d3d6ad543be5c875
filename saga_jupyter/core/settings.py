"""Where sessions are looked for: keyword arguments first, else the contract's environment.

The kernel side (the Python API, the widgets) has no Jupyter config, so every entry point
resolves ``output_dir`` and ``tmux_socket_name`` here, the same way the server's traits default.
The kernel also reads (never writes) the server's metadata store, found the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

DEFAULT_OUTPUT_DIR = "/tmp/saga-sessions"  # noqa: S108 - the contract's default, shared with SAGA
OUTPUT_DIR_ENV = "SAGA_SESSIONS_DIR"
SESSION_DIR_ENV = "SAGA_SESSION_DIR"  # what today's SAGA sets (and its workers write to)
TMUX_SOCKET_ENV = "SAGA_TMUX_SOCKET"
STATE_FILE_ENV = "SAGA_STATE_FILE"


class Settings(NamedTuple):
    """An output directory and a tmux ``-L`` socket name (``None``: tmux's default server)."""

    output_dir: Path
    tmux_socket_name: str | None


def resolve(
    output_dir: str | os.PathLike[str] | None = None, tmux_socket_name: str | None = None
) -> Settings:
    """The settings to use: each argument given wins, else its environment variable or default.

    Environment variables are read on every call (not at import), so a notebook that sets
    ``os.environ`` after importing still gets what it asked for. An empty value counts as unset.

    >>> resolve("/tmp/x", "sock")
    Settings(output_dir=PosixPath('/tmp/x'), tmux_socket_name='sock')
    """
    if output_dir is None or os.fspath(output_dir) == "":
        output_dir = (
            os.environ.get(OUTPUT_DIR_ENV) or os.environ.get(SESSION_DIR_ENV) or DEFAULT_OUTPUT_DIR
        )
    if not tmux_socket_name:
        tmux_socket_name = os.environ.get(TMUX_SOCKET_ENV) or None
    return Settings(Path(output_dir), tmux_socket_name)


def state_file() -> Path:
    """The metadata store's path: ``$SAGA_STATE_FILE``, else the server's default.

    The default is ``saga_jupyter/sessions.json`` in the Jupyter data directory.
    """
    path = os.environ.get(STATE_FILE_ENV)
    if path:
        return Path(path)
    # Here, not at the top: the command line starts without it when $SAGA_STATE_FILE is set.
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "saga_jupyter" / "sessions.json"
