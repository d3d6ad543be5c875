"""Following one session's log on a Jupyter server, over its REST log route, from a kernel.

A :class:`RemoteLog` asks ``GET /api/saga/sessions/{name}/log?host=&offset=&length=``
(:mod:`.serverclient`) on a thread of its own every ``interval`` seconds, and hands on what
was appended as :class:`~.watch.tailer.Chunk` s, as the local
:class:`~.watch.follower.Follower` does: every byte once, in order, as whole characters. It
starts at the file's last ``window`` bytes (cut at a line start, as
:meth:`~.watch.tailer.Tailer.from_tail` does), asks for at most ``max_request`` bytes at a
time, starts over (a reset chunk) when ``X-Log-Size`` says the file is shorter than what was
read (truncated or replaced) or when more than ``catch_up`` bytes wait, and stops once the
session has ended and its log was read to the end. A host that does not answer changes
nothing read: the next answer continues from the same offset.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.parse import quote

from .serverclient import ServerClient, ServerError
from .watch.tailer import Chunk, utf8_decoder, window_cut

logger = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds between asks while nothing is left to read
MAX_REQUEST = 1 << 20  # bytes asked for at a time (the answer is capped to this)
# Seconds the server may stay silent: a remote frozen before its server marks it stale holds
# the server's answer; asking again soon lets the viewer say so (the offset is kept).
ASK_TIMEOUT = 5.0
TRUNCATED = "the output was truncated or replaced: shown from its start again"
SKIPPED = "too far behind: shown from the output's tail"


class RemoteLog:
    """One session's log on a Jupyter server (``host``: which of its remotes; ``None``: its own).

    ``on_chunk(chunk)`` gets the text as it is read (an empty ``reset`` chunk: what follows
    starts at ``chunk.offset``, what was shown is gone), ``on_flush()`` follows each ask: then
    :attr:`complete`, :attr:`missing`, :attr:`error` and :attr:`notice` say how it stands.
    ``ended()`` says whether the session has ended (as the caller last saw it listed).
    Call :meth:`start` once, :meth:`close` to stop (no callback after the one under way).
    """

    def __init__(
        self,
        client: ServerClient,
        name: str,
        host: str | None,
        *,
        on_chunk: Callable[[Chunk], None],
        on_flush: Callable[[], None] = lambda: None,
        ended: Callable[[], bool] = lambda: False,
        window: int = 256 * 1024,
        catch_up: int | None = None,
        interval: float = INTERVAL,
        max_request: int = MAX_REQUEST,
    ) -> None:
        if max_request < 4 or window < 0:
            raise ValueError(f"max_request must be >= 4, window >= 0: {max_request}, {window}")
        self.client, self.name, self.host = client, name, host
        self.on_chunk, self.on_flush, self.ended = on_chunk, on_flush, ended
        self.window, self.catch_up = window, catch_up
        self.interval, self.max_request = interval, max_request
        #: Whether the session has ended and its log was read to the end (the thread is done).
        self.complete = False
        #: Whether the server said there is no output file (yet, or any more).
        self.missing = False
        #: Why the last ask failed (``None``: it answered).
        self.error: str | None = None
        #: The last start-over, for a person (``None``: none).
        self.notice: str | None = None
        self.closed = False
        self._position: int | None = None  # bytes taken from the file; None: start at its tail
        self._cut = False  # the next bytes start mid-file: cut them at a line start
        self._decoder = utf8_decoder()
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"saga-remotelog-{name}", daemon=True
        )

    @property
    def offset(self) -> int:
        """The byte offset just after the text handed on: where a reader would resume."""
        held, _ = self._decoder.getstate()
        return (self._position or 0) - len(held)

    def start(self) -> None:
        """Start asking (on the thread of its own)."""
        self._thread.start()

    def poke(self) -> None:
        """Ask now rather than at the end of the interval."""
        self._wake.set()

    def close(self) -> None:
        """Stop asking; an ask under way ends unheard (the thread ends after it)."""
        self.closed = True
        self._wake.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (after :meth:`close`, or once complete)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def poll(self) -> None:
        """Read everything appended since the last poll, then flush (in the caller's thread)."""
        ended = self.ended()  # before reading: what was written before the end is read now
        try:
            at_end = self._read_all()
            self.error = None
        except ServerError as failed:
            if failed.code == 404:  # no output file (yet): not an error of the server's
                self.missing, self.error = True, None
                at_end = True
            else:
                self.error, at_end = str(failed), False
        if self.closed:
            return
        self.complete = ended and at_end
        self.on_flush()

    # -- on its thread

    def _run(self) -> None:
        logger.info("following %s on %s (host %s)", self.name, self.client.url, self.host)
        while not self.closed and not self.complete:
            self.poll()
            self._wake.wait(self.interval)
            self._wake.clear()
        logger.info("stopped following %s on %s", self.name, self.client.url)

    def _read_all(self) -> bool:
        """Ask until the file's end; whether it was reached (a closed log: soon ``False``)."""
        while not self.closed:
            if self._position is None:
                _, size = self._ask(0, 0)
                self._restart(size)
            position = self._position
            assert position is not None
            data, size = self._ask(position, self.max_request)
            if size < position:  # truncated or replaced (with less than was read): start over
                logger.info("%s on %s: truncated, starting over", self.name, self.client.url)
                self._restart(size, TRUNCATED)
                continue
            behind = size - position - len(data)
            if self.catch_up is not None and not self._cut and behind > self.catch_up:
                self._restart(size, SKIPPED)
                continue
            self.missing = False
            self._take(data)
            if position + len(data) >= size or not data:
                return True
        return False

    def _restart(self, size: int, notice: str | None = None) -> None:
        """Start over at the tail window of a ``size``-byte file (one byte before it, to cut)."""
        start = max(0, size - self.window - 1) if size > self.window else 0
        self._position, self._cut = start, start > 0
        self._decoder = utf8_decoder()
        if notice is not None:
            self.notice = notice
        if not self._cut:
            self._emit(Chunk("", 0, reset=True))

    def _take(self, data: bytes) -> None:
        assert self._position is not None
        self._position += len(data)
        if self._cut:
            if not data:
                return  # cut with the bytes when they come
            skip = window_cut(data)
            data, self._cut = data[skip:], False
            self._emit(Chunk("", self._position - len(data), reset=True))
        text = self._decoder.decode(data)
        if text:
            self._emit(Chunk(text, self.offset, reset=False))

    def _emit(self, chunk: Chunk) -> None:
        if not self.closed:
            self.on_chunk(chunk)

    def _ask(self, offset: int, length: int) -> tuple[bytes, int]:
        return read_range(self.client, self.name, self.host, offset, length)


def read_range(
    client: ServerClient, name: str, host: str | None, offset: int, length: int
) -> tuple[bytes, int]:
    """Up to ``length`` bytes of ``name``'s log (on ``host``) from ``offset``, and its size.

    ``ServerError`` when the server refuses, or answers anything but that byte range.
    """
    path = f"api/saga/sessions/{quote(name, safe='')}/log"
    query = {"host": host, "offset": str(offset), "length": str(length)}
    data, headers = client.get_bytes(path, query, limit=length, timeout=ASK_TIMEOUT)
    size, start = headers.get("x-log-size", ""), headers.get("x-log-offset", "")
    if not (size.isascii() and size.isdigit() and len(size) < 20 and start == str(offset)):
        raise ServerError(f"{client.url} did not answer a byte range of {name}'s log")
    return data, int(size)
