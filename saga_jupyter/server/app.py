"""``SagaJupyterApp``: the Jupyter Server extension; all configuration lives here."""

from __future__ import annotations

import functools
import gc
import logging
import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, List, TraitError, Unicode, default, validate

from ..core.discovery import Discovery
from ..core.saga.catalog import Catalog, default_project_dirs
from ..core.settings import (
    DEFAULT_OUTPUT_DIR,
    OUTPUT_DIR_ENV,
    STATE_FILE_ENV,
    TMUX_SOCKET_ENV,
    resolve,
    state_file,
)
from ..core.store import MetadataStore
from ..core.tmux.client import Tmux
from .channel import ChannelHandler, Channels
from .control import ConnectHandler, StopHandler
from .handlers import LogHandler, SessionHandler, SessionsHandler, StatusHandler
from .logstreams import LogStreams
from .manager import SessionManager
from .poller import Poller
from .projects import Projects
from .story_handlers import EpicsHandler, ProjectsHandler, StoriesHandler, StoryHandler

CORE_LOG = logging.getLogger("saga_jupyter")


class SagaJupyterApp(ExtensionApp):
    """Lists SAGA workers' tmux sessions and streams their output over ``/api/saga/``."""

    name = "saga_jupyter"
    load_other_extensions = True

    # Each help= is the documentation: `saga-jupyter server --help-all` prints it, and the
    # README's Configuration table is made from it (scripts/config_docs.py). A "Default: ..."
    # sentence says where a default comes from when it is not a constant.
    output_dir = Unicode(
        DEFAULT_OUTPUT_DIR,
        config=True,
        help="Where the output files live: <name>.out (the seeds' SAGA) and <name>.jsonl "
        "(today's). Default: $SAGA_SESSIONS_DIR, else $SAGA_SESSION_DIR, else /tmp/saga-sessions.",
    )
    tmux_socket_name = Unicode(
        None,
        allow_none=True,
        config=True,
        help="tmux -L socket to watch. Default: $SAGA_TMUX_SOCKET, else unset (tmux's default "
        "server).",
    )
    poll_interval = Float(
        3.0,
        config=True,
        help="Seconds between tmux scans: a backstop, as an output file that appears, goes or "
        "is renamed is seen at once through the directory watch.",
    )
    initial_log_bytes = Int(
        262144, config=True, help="At most this many bytes in the first logs:data frame."
    )
    catch_up_bytes = Int(
        64 << 20,
        config=True,
        help="A log viewer further behind its file's end than this (or 4 x initial_log_bytes, "
        "if more) skips to the file's last initial_log_bytes, with a notice.",
    )
    max_unsent_bytes = Int(
        16 << 20,
        config=True,
        help="Close a channel client that stopped reading (WebSocket code 1008) once this many "
        "bytes of frames wait for it; it can reconnect and resume each log by offset.",
    )
    max_unsent_bytes_total = Int(
        256 << 20,
        config=True,
        help="Bound the frames waiting for all channel clients together: past it, the clients "
        "with the most waiting are closed first (WebSocket code 1008), as max_unsent_bytes "
        "closes one; they can reconnect and resume each log by offset.",
    )
    state_file = Unicode(
        config=True,
        help="The metadata store (JSON) that remembers sessions across restarts. Default: "
        "$SAGA_STATE_FILE, else saga_jupyter/sessions.json in the Jupyter data directory.",
    )
    allow_control = Bool(False, config=True, help="Enable the stop, connect and launch endpoints.")
    max_sessions = Int(4, config=True, help="Running sessions allowed before launch refuses.")
    project_dirs = List(
        Unicode(),
        config=True,
        help="SAGA projects (directories holding .saga/) whose epics, stories, tasks and "
        "journals are served under /api/saga/epics and /api/saga/stories, beside every project "
        "a worker names (its worktree). Default: $SAGA_PROJECT_DIR when set, else none.",
    )

    @default("output_dir")
    def _default_output_dir(self) -> str:
        return str(resolve().output_dir)

    @default("tmux_socket_name")
    def _default_tmux_socket_name(self) -> str | None:
        return resolve().tmux_socket_name

    @default("project_dirs")
    def _default_project_dirs(self) -> list[str]:
        return default_project_dirs()

    @default("state_file")
    def _default_state_file(self) -> str:
        return str(state_file())

    @validate("poll_interval")
    def _validate_poll_interval(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not 0.05 <= value <= 3600:
            raise TraitError(f"poll_interval must be between 0.05 and 3600 seconds, not {value}")
        return value

    @validate(
        "initial_log_bytes",
        "catch_up_bytes",
        "max_sessions",
        "max_unsent_bytes",
        "max_unsent_bytes_total",
    )
    def _validate_positive(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if value < 1:
            raise TraitError(f"{proposal['trait'].name} must be at least 1, not {value}")
        return value

    @validate("tmux_socket_name")
    def _validate_socket_name(self, proposal: dict[str, Any]) -> str | None:
        value = proposal["value"] or None
        if value is not None and ("/" in value or "\0" in value):
            raise TraitError("tmux_socket_name is a -L name, not a path")
        return value

    def initialize_settings(self) -> None:
        """Build the poller, the log streams, the channel registry and the manager."""
        # core logs to the standard logging tree; show it on the server's console too.
        self._console = [h for h in self.log.handlers if type(h) is logging.StreamHandler]
        for handler in self._console:
            CORE_LOG.addHandler(handler)
        CORE_LOG.setLevel(self.log.level)
        discovery = Discovery(self.output_dir, Tmux(self.tmux_socket_name))
        store = MetadataStore(self.state_file, output_dir=self.output_dir)
        self.poller = Poller(discovery, store, self.poll_interval, self.log)
        self.channels = Channels(self.max_unsent_bytes, self.max_unsent_bytes_total)
        self.log_streams = LogStreams(
            self.output_dir,
            self.poller.watch,
            self.initial_log_bytes,
            self.poller.find,
            self.log,
            self.catch_up_bytes,
        )
        self.poller.add_listener(self.channels.sessions_updated)
        self.projects = Projects(
            Catalog(self.project_dirs),
            self.poller,
            self.channels.stories_updated,
            self.poll_interval,
            self.log,
        )
        self.poller.add_listener(lambda update: self.log_streams.sessions_updated(update.by_name))
        # The handlers reach it as self.extensionapp.manager (ExtensionHandlerMixin).
        self.manager = SessionManager(
            self.poller,
            self.log_streams,
            self.channels.__len__,
            allow_control=self.allow_control,
            max_sessions=self.max_sessions,
            log=self.log,
        )

    def initialize_handlers(self) -> None:
        """Mount the routes under ``{base_url}api/saga/``."""
        self.handlers.extend(
            [
                (r"/api/saga/sessions", SessionsHandler),
                (r"/api/saga/sessions/(?P<name>[^/]+)/log", LogHandler),
                (r"/api/saga/sessions/(?P<name>[^/]+)/stop", StopHandler),
                (r"/api/saga/sessions/(?P<name>[^/]+)/connect", ConnectHandler),
                # Any other path below sessions/ is a malformed name: a JSON 404, not a page.
                (r"/api/saga/sessions/(?P<name>.+)", SessionHandler),
                (r"/api/saga/status", StatusHandler),
                (r"/api/saga/projects", ProjectsHandler),
                (r"/api/saga/epics", EpicsHandler),
                (r"/api/saga/stories", StoriesHandler),
                (r"/api/saga/stories/(?P<story_id>[^/]+)", StoryHandler),
                (r"/api/saga/channels", ChannelHandler),
            ]
        )

    def kernel_environment(self) -> dict[str, str]:
        """What kernels this server starts need to look where it looks (``core.settings``)."""
        environment = {OUTPUT_DIR_ENV: self.output_dir, STATE_FILE_ENV: self.state_file}
        environment[TMUX_SOCKET_ENV] = self.tmux_socket_name or ""  # empty: the default server
        return environment

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Start polling and log streaming once the server's event loop runs."""
        # Kernels inherit the server's environment: a notebook's Dashboard() then shows what
        # /api/saga/sessions shows, with no step of the user's. Restored when the extension stops.
        self._environment = {name: os.environ.get(name) for name in self.kernel_environment()}
        os.environ.update(self.kernel_environment())
        self.log_streams.start()
        await self.poller.start()
        await self.projects.start()
        _freeze_startup_objects()

    async def stop_extension(self) -> None:
        """Stop the timer, the watch and the channel's clients."""
        self.log_streams.stop()
        await self.projects.stop()
        await self.poller.stop()
        self.channels.close_all()
        for name, value in getattr(self, "_environment", {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for handler in self._console:
            CORE_LOG.removeHandler(handler)


@functools.cache
def _freeze_startup_objects() -> None:
    """Leave what the server holds once started out of garbage collection (once a process).

    A full collection walks every object of the process with the event loop stopped: in a
    Jupyter server, 10-170 ms as it grows, a latency spike for every viewer of every log at
    once (the bench's 100 viewers: p99 173 ms). What exists at startup (modules, classes, the
    apps) lives as long as the process; what comes later is collected as before.
    """
    gc.collect()
    gc.freeze()
