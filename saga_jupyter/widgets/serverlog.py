"""``ServerLogViewer``: a session's log on a Jupyter server (or its remote), read over REST.

A :class:`~.logviewer.LogViewer` whose bytes come from a :class:`~..core.remotelog.RemoteLog`
(a thread of its own, asking every ``interval`` seconds) instead of the kernel's engine;
everything else (rendering, the transcript of a today's worker's messages, the page's
messages, "load earlier") is the LogViewer's. While the host does not answer, the text stays
and :attr:`message` says why (from the server's ``/status``, as
:class:`~..core.serverview.ServerView` keeps it).
"""

from __future__ import annotations

import threading
from typing import Any

from ..core.remotelog import INTERVAL, RemoteLog, read_range
from ..core.saga.names import output_format
from ..core.serverclient import ServerError
from ..core.serverview import ServerView
from ..core.watch.follower import has_ended
from .logviewer import PAUSED_FACTOR, SKIP_BYTES, WINDOW_BYTES, LogViewer, _Reading


class ServerLogViewer(LogViewer):
    """The output of one session listed by a Jupyter server, live.

    ``host``: the name of the server's remote it runs on, ``None`` for the server's own.
    Select another with :meth:`show`.
    """

    def __init__(
        self,
        source: ServerView,
        name: str | None = None,
        host: str | None = None,
        *,
        interval: float = INTERVAL,
        **kwargs: Any,
    ) -> None:
        self.source = source
        self.host = host
        self.interval = interval
        super().__init__(name, **kwargs)

    @property
    def output_file(self) -> None:
        """``None``: the file is on another machine."""
        return None

    def show(self, name: str | None, host: str | None) -> None:
        """Show session ``name`` of ``host`` (from its tail), unless it is shown already."""
        with self._lock:
            if (name, host) == (self.name, self.host):
                return
            self.host = host
            if name == self.name:
                self._switch({"new": name})  # the same name on another host
            else:
                self.name = name

    def refresh(self) -> None:
        """Ask the server now rather than at the end of the interval (returns at once)."""
        follower = self._follower
        if isinstance(follower, RemoteLog):
            follower.poke()

    def _read_range(self, start: int, length: int) -> bytes | None:
        name, host = self.name, self.host
        if name is None:
            return None
        try:
            return read_range(self.source.client, name, host, start, length)[0]
        except ServerError:
            return None

    def _on_page_message(self, widget: object, content: Any, buffers: object) -> None:
        if isinstance(content, dict) and content.get("type") == "earlier":
            # An HTTP request: not in the kernel's message handler, which it would hold up.
            threading.Thread(target=self._earlier, name="saga-remote-earlier", daemon=True).start()
        else:
            super()._on_page_message(widget, content, buffers)

    def _earlier(self) -> None:
        if self.load_earlier() == 0:
            self._emit({"type": "prepend", "lines": []})  # the page waits for an answer

    # -- following (callbacks on the RemoteLog's thread)

    def _start(self, name: str) -> None:
        generation, host, source = self._generation, self.host, self.source
        transcribing = self.view == "transcript" and output_format(name) == "messages"
        reading = _Reading(self.max_lines * PAUSED_FACTOR, transcribing)
        remote = RemoteLog(
            source.client,
            name,
            host,
            on_chunk=reading.add,
            on_flush=lambda: self._remote_flush(generation, reading, remote),
            ended=lambda: has_ended(source.find(name, host)),
            window=WINDOW_BYTES,
            catch_up=SKIP_BYTES,
            interval=self.interval,
        )
        with self._lock:
            if self._closed or generation != self._generation:
                return  # switched or closed meanwhile
            self._follower = remote
            self._transcribing = transcribing
        remote.start()

    def _remote_flush(self, generation: int, reading: _Reading, remote: RemoteLog) -> None:
        update = reading.take()
        message = self._describe(remote)
        with self._lock:
            if self._closed or generation != self._generation:
                return
            if update is not None:
                self._apply(*update)
            self.status = "complete" if remote.complete else "streaming"
            self.message = message

    def _describe(self, remote: RemoteLog) -> str:
        """How the log stands, for a person: not answering, no output, restarted, or nothing."""
        if remote.error is not None:
            reason = self.source.reasons.get(remote.host or "")  # a stale remote's, from /status
            if reason is not None:
                return f"{remote.host} is not answering ({reason}): shown as last read"
            return f"cannot read the log ({remote.error}): shown as last read"
        if remote.missing:
            return "no output file" if remote.complete else "waiting for output"
        return remote.notice or ""
