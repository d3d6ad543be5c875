"""What SAGA writes, read as SAGA reads it: today's workers' messages, and their projects.

:mod:`.messages` reads a worker's JSON messages into a worker reading, :mod:`.transcript`
renders them as terminal text. :mod:`.project` reads a project's ``.saga/`` directory (epics,
stories, tasks, journals; :mod:`.reads`, :mod:`.journal`, :mod:`.stories`), :mod:`.catalog`
holds the projects a process knows. Pure Python: no server, widget or tmux dependency.
"""

from __future__ import annotations

from .messages import MessageFiles, MessageReader, parse_message
from .transcript import Transcript, render_line

__all__ = ["MessageFiles", "MessageReader", "Transcript", "parse_message", "render_line"]
