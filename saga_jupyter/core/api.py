"""The notebook's plain Python API: list, get, read and follow SAGA sessions, no server needed.

Every function takes ``output_dir`` and ``tmux_socket_name`` keyword arguments, else the
contract's environment variables (see :mod:`saga_jupyter.core.settings`).

>>> import saga_jupyter as saga
>>> saga.list_sessions(status="running", output_dir="/nonexistent", tmux_socket_name="none")
[]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncGenerator
from pathlib import Path

from .engine import Engine, engine_for
from .errors import SessionNotFound
from .info import STATUSES, SessionInfo, SessionList
from .saga.names import output_format, output_path, parse_name
from .saga.transcript import Transcript
from .settings import resolve
from .watch.files import open_regular
from .watch.follower import VIEWS
from .watch.tailer import MAX_CHAR_BYTES, Chunk, line_start

logger = logging.getLogger(__name__)

PathArg = str | os.PathLike[str] | None
TAIL_BLOCK = 64 * 1024
# The most a tail read (``tail_lines``) reads and holds, whatever the file's size.
MAX_TAIL_BYTES = 16 << 20
DEFAULT_POLL = 1.0


def list_sessions(
    status: str | None = None,
    epic: str | None = None,
    story: str | None = None,
    *,
    output_dir: PathArg = None,
    tmux_socket_name: str | None = None,
) -> SessionList:
    """The SAGA sessions matching every given filter, newest first.

    ``status`` is ``"running"``, ``"completed"`` or ``None`` (any); anything else raises
    ``ValueError``. ``epic`` and ``story`` match slugs exactly. The result is a ``list`` that
    a notebook shows as a table, with a ``to_dataframe()`` for pandas.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)} or None, not {status!r}")
    sessions = engine_for(resolve(output_dir, tmux_socket_name)).refresh()
    return SessionList(session for session in sessions if session.matches(status, epic, story))


def get_session(
    name: str, *, output_dir: PathArg = None, tmux_socket_name: str | None = None
) -> SessionInfo:
    """One session by exact name.

    Raises :class:`~saga_jupyter.core.errors.SessionNotFound` when no such session is running
    or has an output file, and :class:`~saga_jupyter.core.errors.InvalidSessionName` (a
    ``ValueError``) for a name that is not a SAGA session name.
    """
    session = engine_for(resolve(output_dir, tmux_socket_name)).find(name)
    if session is None:
        raise SessionNotFound(f"no SAGA session named {name}")
    return session


def read_log(
    name: str,
    tail_lines: int | None = None,
    *,
    view: str = "transcript",
    output_dir: PathArg = None,
    tmux_socket_name: str | None = None,
) -> str:
    """A session's output as text (UTF-8, invalid bytes as U+FFFD), or its last ``tail_lines``.

    With ``tail_lines`` only the end of the file is read, as ``tail -n`` does, and at most its
    last :data:`MAX_TAIL_BYTES` (16 MiB): lines longer than that (or a sparse file's hole) give
    fewer lines, starting at the first line start in those bytes. A today's worker's messages
    are rendered as a transcript (its complete lines; ``tail_lines``: of the last
    ``tail_lines`` messages, the last ``tail_lines`` lines) unless ``view="raw"``: the JSON
    lines as written. A session running without an output file yet gives ``""``; an unknown
    session raises ``SessionNotFound``, a malformed name ``InvalidSessionName``.
    """
    text, _ = read_log_end(
        name, tail_lines, view=view, output_dir=output_dir, tmux_socket_name=tmux_socket_name
    )
    return text


def read_log_end(
    name: str,
    tail_lines: int | None = None,
    *,
    view: str = "transcript",
    output_dir: PathArg = None,
    tmux_socket_name: str | None = None,
) -> tuple[str, int]:
    """:func:`read_log`, and the byte offset in the file where the text read ends.

    ``follow(name, offset=end, view=view)`` then goes on from there with nothing missed or
    repeated, as ``tail -f`` does (a transcript ends after the last complete line).
    """
    if tail_lines is not None and (type(tail_lines) is not int or tail_lines < 0):
        raise ValueError(f"tail_lines must be a non-negative integer or None: {tail_lines!r}")
    _check_view(view)
    settings = resolve(output_dir, tmux_socket_name)
    transcribing = view == "transcript" and output_format(name) == "messages"
    # A transcript's lines are complete messages: one more, for a last line still written.
    lines = tail_lines + 1 if transcribing and tail_lines is not None else tail_lines
    read = _read_output(output_path(settings.output_dir, name), lines)
    if read is None:
        get_session(
            name, output_dir=settings.output_dir, tmux_socket_name=settings.tmux_socket_name
        )
        return "", 0
    data, end = read
    if transcribing:
        return _transcript(data, end, tail_lines)
    return data.decode("utf-8", errors="replace"), end


def _transcript(data: bytes, end: int, tail_lines: int | None) -> tuple[str, int]:
    """The transcript of ``data`` (a file's bytes from a line start up to ``end``)."""
    start, complete = end - len(data), data.rfind(b"\n") + 1
    text, offset = Transcript(start).feed(
        data[:complete].decode("utf-8", errors="replace"), start + complete
    )
    if tail_lines is not None:  # messages render to one line or more: keep the last lines
        lines = text.splitlines(keepends=True)
        text = "".join(lines[max(0, len(lines) - tail_lines) :])
    return text, offset


def _check_view(view: object) -> None:
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}: {view!r}")


def _read_output(path: Path, tail_lines: int | None) -> tuple[bytes, int] | None:
    """The file's bytes (all, or its last ``tail_lines`` lines) and where they end in the file.

    ``None`` without a file. The last lines are at most :data:`MAX_TAIL_BYTES`.
    """
    try:
        fd, info = open_regular(path)
    except OSError:
        return None
    try:
        size = info.st_size
        start = 0 if tail_lines is None else _tail_start(fd, size, tail_lines)
        parts = []
        while start < size:
            part = os.pread(fd, min(TAIL_BLOCK * 16, size - start), start)
            if not part:
                break  # truncated while reading: what was there is what we give
            parts.append(part)
            start += len(part)
        return b"".join(parts), start
    finally:
        os.close(fd)


def _tail_start(fd: int, size: int, lines: int) -> int:
    """Where the last ``lines`` lines start, reading blocks backwards from the end only.

    At most :data:`MAX_TAIL_BYTES` before the end: fewer lines in them (huge lines, or a
    sparse file's gigabytes of NULs) start at the first line starting in them (else at the
    first whole character), as ``tail -n`` would not but a bounded reader must.
    """
    if lines == 0:
        return size
    # A newline ending the file ends the last line; it does not start another one.
    end = size - 1 if size and os.pread(fd, 1, size - 1) == b"\n" else size
    floor = max(0, size - MAX_TAIL_BYTES)
    position = end
    found = 0
    first = -1  # where the earliest newline seen is
    while position > floor:
        block_start = max(floor, position - TAIL_BLOCK)
        block = os.pread(fd, position - block_start, block_start)
        index = len(block)
        while True:
            index = block.rfind(b"\n", 0, index)
            if index < 0:
                break
            found += 1
            first = block_start + index
            if found == lines:
                return first + 1
        position = block_start
    if floor == 0:
        return 0
    if first >= 0:  # fewer lines than asked in the window: from the first that starts in it
        return first + 1
    return floor + line_start(os.pread(fd, MAX_CHAR_BYTES, floor))


def follow(
    name: str,
    *,
    offset: int | None = 0,
    poll: float = DEFAULT_POLL,
    view: str = "transcript",
    output_dir: PathArg = None,
    tmux_socket_name: str | None = None,
) -> AsyncGenerator[str, None]:
    """An async iterator of a session's output as it is written, ending when the session does.

    Starts at byte ``offset`` (``None``: only what is written from now on). Chunks are whole
    characters (a multibyte character split across writes is never broken); after a truncation
    or a replacement of the file the text continues with the new file from its start. The
    process's engine (:mod:`.engine`) reads it within milliseconds of a write, and asks tmux at
    least every ``poll`` seconds whether the session still runs; it ends once the session is
    not running and everything written was yielded. A today's worker's messages come as their
    transcript (:mod:`.saga.transcript`; ``offset`` then at a line start) unless
    ``view="raw"``. Closing it (``aclose()``,
    leaving ``async for`` and letting it go) releases the file::

        async for text in saga.follow(name):
            print(text, end="")

    The name is checked at once (``InvalidSessionName``); an unknown session (not running, no
    output file) raises ``SessionNotFound`` from the first ``__anext__``. While tmux cannot be
    asked, the session counts as running.
    """
    parse_name(name)
    if offset is not None and (type(offset) is not int or offset < 0):
        raise ValueError(f"offset must be a non-negative integer or None: {offset!r}")
    if not poll > 0:
        raise ValueError(f"poll must be positive: {poll!r}")
    _check_view(view)
    return _follow(name, engine_for(resolve(output_dir, tmux_socket_name)), offset, poll, view)


async def _follow(
    name: str, engine: Engine, offset: int | None, poll: float, view: str
) -> AsyncGenerator[str, None]:
    loop = asyncio.get_running_loop()
    texts: asyncio.Queue[str | None] = asyncio.Queue()  # None: the end

    def hand_over(text: str | None) -> None:
        # On the engine's thread. The queue holds what the reader has not taken yet: the
        # reader is an async for loop, as fast as the output (a slow one may let it grow).
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody reads any more
            loop.call_soon_threadsafe(texts.put_nowait, text)

    if await asyncio.to_thread(engine.find, name) is None:
        raise SessionNotFound(f"no SAGA session named {name}")

    def on_chunk(chunk: Chunk) -> None:
        if chunk.data:
            hand_over(chunk.data)

    # No offset: from the end (a tail window of nothing).
    follower = await asyncio.to_thread(
        engine.follower,
        name,
        offset,
        on_chunk=on_chunk,
        on_end=lambda: hand_over(None),
        view=view,
    )
    engine.follow(follower, poll)
    try:
        while (text := await texts.get()) is not None:
            yield text
    finally:
        # Off the loop: the last user of the engine waits for its thread to end.
        await asyncio.to_thread(follower.close)
