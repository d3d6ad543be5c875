"""saga_jupyter: watch SAGA coding-agent workers (tmux sessions) live from Jupyter."""

from __future__ import annotations

from typing import Any

from .core.api import follow, get_session, list_sessions, read_log
from .core.errors import InvalidSessionName, SagaError, SessionNotFound, TmuxUnavailable
from .core.info import SessionInfo

__version__ = "0.1.0"

__all__ = [
    "InvalidSessionName",
    "SagaError",
    "SessionInfo",
    "SessionNotFound",
    "TmuxUnavailable",
    "__version__",
    "follow",
    "get_session",
    "list_sessions",
    "read_log",
]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell Jupyter Server where the extension app lives."""
    from .server.app import SagaJupyterApp

    return [{"module": "saga_jupyter.server.app", "app": SagaJupyterApp}]
