"""What SAGA writes: today's workers' JSON messages, read and rendered for a person.

:mod:`.messages` reads them into a worker reading, :mod:`.transcript` renders them as terminal
text. Pure Python: no server, widget or tmux dependency.
"""

from __future__ import annotations

from .messages import MessageFiles, MessageReader, parse_message
from .transcript import Transcript, render_line

__all__ = ["MessageFiles", "MessageReader", "Transcript", "parse_message", "render_line"]
