"""ipywidgets for notebooks: a live session table, a log viewer and a dashboard (kernel side)."""

from __future__ import annotations

from .dashboard import Dashboard
from .logviewer import LogViewer
from .table import SessionTable

__all__ = ["Dashboard", "LogViewer", "SessionTable"]
