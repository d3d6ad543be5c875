"""Pure-Python core: names, SessionInfo, tmux discovery, previews, the directory watch.

Never imports tornado, jupyter_server or ipywidgets.
"""

from __future__ import annotations

from .discovery import Discovery
from .errors import InvalidSessionName, SagaError, SessionNotFound, TmuxUnavailable
from .info import SessionInfo
from .saga.names import is_saga_name, output_path, parse_name
from .tmux.client import Tmux

__all__ = [
    "Discovery",
    "InvalidSessionName",
    "SagaError",
    "SessionInfo",
    "SessionNotFound",
    "Tmux",
    "TmuxUnavailable",
    "is_saga_name",
    "output_path",
    "parse_name",
]
