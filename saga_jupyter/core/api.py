"""The notebook's plain Python API: list, get, read and follow SAGA sessions, no server needed.

Every function takes ``output_dir`` and ``tmux_socket_name`` keyword arguments, else the
contract's environment variables (see :mod:`saga_jupyter.core.settings`).

>>> import saga_jupyter as saga
>>> saga.list_sessions(status="running", output_dir="/nonexistent", tmux_socket_name="none")
[]
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from .dirwatch import DirectoryWatch
from .discovery import Discovery
from .errors import SessionNotFound, TmuxUnavailable
from .files import open_regular
from .info import STATUSES, SessionInfo
from .names import output_path, parse_name
from .settings import Settings, resolve, state_file
from .store import peek
from .tailer import Tailer
from .tmux import Tmux

logger = logging.getLogger(__name__)

PathArg = str | os.PathLike[str] | None
TAIL_BLOCK = 64 * 1024
DEFAULT_POLL = 1.0

# One Discovery per settings for the life of the kernel: it remembers when a session was seen
# running, so a session that completes between two calls gets its real end time, not its mtime.
_discoveries: dict[Settings, Discovery] = {}
_scan_lock = threading.Lock()  # Discovery is not thread-safe; widgets scan from threads


def discovery_for(settings: Settings) -> Discovery:
    """A kernel-side Discovery, starting from what the server's metadata store remembers.

    So a session that ended before this kernel started keeps its real start and end times.
    """
    discovery = Discovery(settings.output_dir, Tmux(settings.tmux_socket_name))
    discovery.memory = peek(state_file(), settings.output_dir)
    return discovery


def scan(settings: Settings) -> list[SessionInfo]:
    """Every session of these settings now, newest first (one tmux call, one directory listing)."""
    with _scan_lock:
        discovery = _discoveries.get(settings)
        if discovery is None:
            discovery = _discoveries[settings] = discovery_for(settings)
        return discovery.scan()


def list_sessions(
    status: str | None = None,
    epic: str | None = None,
    story: str | None = None,
    *,
    output_dir: PathArg = None,
    tmux_socket_name: str | None = None,
) -> list[SessionInfo]:
    """The SAGA sessions matching every given filter, newest first.

    ``status`` is ``"running"``, ``"completed"`` or ``None`` (any); anything else raises
    ``ValueError``. ``epic`` and ``story`` match slugs exactly.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)} or None, not {status!r}")
    sessions = scan(resolve(output_dir, tmux_socket_name))
    return [session for session in sessions if session.matches(status, epic, story)]


def get_session(
    name: str, *, output_dir: PathArg = None, tmux_socket_name: str | None = None
) -> SessionInfo:
    """One session by exact name.

    Raises :class:`~saga_jupyter.core.errors.SessionNotFound` when no such session is running
    or has an output file, and :class:`~saga_jupyter.core.errors.InvalidSessionName` (a
    ``ValueError``) for a name that is not a SAGA session name.
    """
    parse_name(name)
    for session in scan(resolve(output_dir, tmux_socket_name)):
        if session.name == name:
            return session
    raise SessionNotFound(f"no SAGA session named {name}")


def read_log(
    name: str,
    tail_lines: int | None = None,
    *,
    output_dir: PathArg = None,
    tmux_socket_name: str | None = None,
) -> str:
    """A session's output as text (UTF-8, invalid bytes as U+FFFD), or its last ``tail_lines``.

    With ``tail_lines`` only the end of the file is read, as ``tail -n`` does. A session
    running without an output file yet gives ``""``; an unknown session raises
    ``SessionNotFound``, a malformed name ``InvalidSessionName``.
    """
    if tail_lines is not None and (type(tail_lines) is not int or tail_lines < 0):
        raise ValueError(f"tail_lines must be a non-negative integer or None: {tail_lines!r}")
    settings = resolve(output_dir, tmux_socket_name)
    data = _read_output(output_path(settings.output_dir, name), tail_lines)
    if data is None:
        get_session(
            name, output_dir=settings.output_dir, tmux_socket_name=settings.tmux_socket_name
        )
        return ""
    return data.decode("utf-8", errors="replace")


def _read_output(path: Path, tail_lines: int | None) -> bytes | None:
    """The file's bytes (all, or its last ``tail_lines`` lines); ``None`` without a file."""
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
        return b"".join(parts)
    finally:
        os.close(fd)


def _tail_start(fd: int, size: int, lines: int) -> int:
    """Where the last ``lines`` lines start, reading blocks backwards from the end only."""
    if lines == 0:
        return size
    # A newline ending the file ends the last line; it does not start another one.
    end = size - 1 if size and os.pread(fd, 1, size - 1) == b"\n" else size
    position = end
    found = 0
    while position > 0:
        block_start = max(0, position - TAIL_BLOCK)
        block = os.pread(fd, position - block_start, block_start)
        index = len(block)
        while True:
            index = block.rfind(b"\n", 0, index)
            if index < 0:
                break
            found += 1
            if found == lines:
                return block_start + index + 1
        position = block_start
    return 0


def follow(
    name: str,
    *,
    offset: int | None = 0,
    poll: float = DEFAULT_POLL,
    output_dir: PathArg = None,
    tmux_socket_name: str | None = None,
) -> AsyncIterator[str]:
    """An async iterator of a session's output as it is written, ending when the session does.

    Starts at byte ``offset`` (``None``: only what is written from now on). Chunks are whole
    characters (a multibyte character split across writes is never broken); after a truncation
    or a replacement of the file the text continues with the new file from its start. The
    directory watch wakes it within milliseconds of a write; every ``poll`` seconds it also
    re-reads and asks tmux whether the session still runs. It ends once the session is not
    running and everything written was yielded. Closing it (``aclose()``, leaving
    ``async for`` and letting it go) releases the file and the watch::

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
    return _follow(name, resolve(output_dir, tmux_socket_name), offset, poll)


async def _follow(
    name: str, settings: Settings, offset: int | None, poll: float
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    path = output_path(settings.output_dir, name)
    tmux = Tmux(settings.tmux_socket_name)
    watch = DirectoryWatch(settings.output_dir)

    def on_file_event(filename: str, _event_type: str) -> None:
        # On the watch's thread: only a wake-up crosses over to the loop.
        if filename == path.name:
            loop.call_soon_threadsafe(wake.set)

    watch.add_listener(on_file_event)
    tailer: Tailer | None = None
    try:
        # The watch is armed before the first read: nothing written after that read is missed.
        opened, running = await asyncio.to_thread(_open, path, offset, watch, tmux, name)
        tailer = opened
        if opened.missing and not running:
            raise SessionNotFound(f"no SAGA session named {name}")
        checked = time.monotonic()
        while True:
            wake.clear()
            chunk = await asyncio.to_thread(opened.read)
            if chunk is not None and chunk.data:
                yield chunk.data
            if chunk is not None and chunk.more:
                continue
            if not running:
                return  # seen not running, then read to the end: nothing more will come
            wait = checked + poll - time.monotonic()
            if wait <= 0:
                running = await asyncio.to_thread(_still_running, tmux, name, watch)
                checked = time.monotonic()
                continue  # read once more either way: a final read after the last write
            try:
                await asyncio.wait_for(wake.wait(), wait)
            except asyncio.TimeoutError:
                pass
    finally:
        # Synchronous on purpose: it takes about a millisecond and must also run when the
        # generator is finalised with no loop to hand work to.
        watch.remove_listener(on_file_event)
        watch.stop()
        if tailer is not None:
            tailer.close()


def _open(
    path: Path, offset: int | None, watch: DirectoryWatch, tmux: Tmux, name: str
) -> tuple[Tailer, bool]:
    """Arm the watch, ask tmux, then open the file: in that order, so nothing is missed."""
    watch.start()
    running = _still_running(tmux, name, watch)
    # No offset: from the end, sized on the file as opened (one lookup of the path).
    tailer = Tailer(path, offset) if offset is not None else Tailer.from_tail(path, 0)
    return tailer, running


def _still_running(tmux: Tmux, name: str, watch: DirectoryWatch) -> bool:
    """Whether tmux has the session; ``True`` while tmux cannot be asked (not known to end)."""
    watch.ensure()  # the directory may have appeared or been replaced since
    try:
        return tmux.has_session(name)
    except TmuxUnavailable:
        return True
