"""What SAGA writes, read as SAGA reads it: today's workers' messages, and their projects.

:mod:`.lines` takes them a line at a time within bounds, :mod:`.messages` reads them into a
worker reading, :mod:`.transcript` renders them as terminal text (:mod:`.terminal`: bounded,
styled lines out of untrusted strings). :mod:`.project` reads a project's ``.saga/`` directory
(epics, stories, tasks, journals; :mod:`.reads`, :mod:`.journal`, :mod:`.stories`) and
:mod:`.catalog` holds the projects a process knows. Pure Python: no server, widget or tmux
dependency.
"""

from __future__ import annotations

from .lines import parse_message
from .messagefiles import MessageFiles
from .messages import MessageReader
from .transcript import Transcript, render_line

__all__ = ["MessageFiles", "MessageReader", "Transcript", "parse_message", "render_line"]
