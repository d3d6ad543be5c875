"""saga_jupyter: watch SAGA coding-agent workers (tmux sessions) live from Jupyter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._python import check_python

check_python()  # before anything that needs a newer Python than the one running

from .core.api import follow, get_session, list_sessions, read_log  # noqa: E402
from .core.errors import (  # noqa: E402
    InvalidSessionName,
    SagaError,
    SessionNotFound,
    TmuxUnavailable,
)
from .core.info import SessionInfo, SessionList  # noqa: E402
from .core.saga.catalog import get_story, list_stories  # noqa: E402

if TYPE_CHECKING:
    from .widgets import Dashboard, LogViewer, SessionTable

__version__ = "0.1.0"

__all__ = [
    "Dashboard",
    "InvalidSessionName",
    "LogViewer",
    "SagaError",
    "SessionInfo",
    "SessionList",
    "SessionNotFound",
    "SessionTable",
    "TmuxUnavailable",
    "__version__",
    "follow",
    "get_session",
    "get_story",
    "list_sessions",
    "list_stories",
    "read_log",
]

# Imported on first use: the server imports this package too and must not pull in ipywidgets.
_WIDGETS = frozenset({"Dashboard", "LogViewer", "SessionTable"})


def __getattr__(name: str) -> Any:
    """The widget classes, imported from :mod:`saga_jupyter.widgets` when first asked for."""
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell Jupyter Server where the extension app lives."""
    from .server.app import SagaJupyterApp

    return [{"module": "saga_jupyter.server.app", "app": SagaJupyterApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built JupyterLab extension lives (``jupyter labextension develop`` links it)."""
    return [{"src": "labextension", "dest": "saga-jupyter"}]
