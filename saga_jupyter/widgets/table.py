"""``SessionTable``: every SAGA session as a live table with filters; a click selects a row.

The rows are rendered in Python as one escaped HTML string (:mod:`.rows`: testable without a
browser, one message per change whatever the number of rows). A tiny front end of our own
(anywidget) shows that string, turns a click into the ``selected`` trait and ticks running
durations every second from the kernel's clock, so nothing is sent just because time passes.
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ..core.display import OUTCOME_COLOURS
from ..core.engine import DEFAULT_INTERVAL, Engine, engine_for
from ..core.info import STATUSES, SessionInfo
from ..core.serverclient import ServerClient
from ..core.serverview import ServerView
from ..core.settings import resolve
from .rows import RowCache, render_rows

ALL = ""  # the filter value that matches everything
OWN = "\x00own"  # the host filter's value for the server's own sessions (no host name has it)
TOKEN_ENV = "SAGA_REMOTE_TOKEN"  # noqa: S105 - a variable's name, not a secret

ESM = """
const pad = (n) => String(n).padStart(2, "0");
// Keep in step with format_duration() in core/durations.py (the panel's rule and form).
export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (h >= 24) return `${Math.floor(h / 24)}d ${h % 24}h`;
  return h ? `${h}h ${pad(m % 60)}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}
export default {
  render({ model, el }) {
    el.classList.add("saga-table");
    let skew = 0;  // kernel clock minus browser clock, so durations agree with the kernel
    const tick = () => {
      const now = Date.now() / 1000 + skew;
      for (const cell of el.querySelectorAll("td[data-start]")) {
        cell.textContent = formatDuration(now - Number(cell.dataset.start));
      }
    };
    const mark = () => {
      const selected = model.get("selected");
      for (const row of el.querySelectorAll("tr[data-key]")) {
        row.classList.toggle("saga-selected", row.dataset.key === selected);
      }
    };
    const paint = () => {
      skew = model.get("now") - Date.now() / 1000;
      el.innerHTML = model.get("html");  // escaped by the kernel
      mark();
      tick();
    };
    const choose = (event) => {
      const row = event.target.closest("tr[data-key]");
      if (!row || (event.type === "keydown" && event.key !== "Enter" && event.key !== " ")) return;
      event.preventDefault();
      model.set("selected", row.dataset.key);
      model.save_changes();
    };
    el.addEventListener("click", choose);
    el.addEventListener("keydown", choose);
    model.on("change:html", paint);
    model.on("change:selected", mark);
    paint();
    const timer = setInterval(tick, 1000);
    return () => {
      clearInterval(timer);
      model.off("change:html", paint);
      model.off("change:selected", mark);
    };
  },
};
"""

CSS = """
.saga-table { max-height: 260px; overflow: auto; font-size: 12px;
  color: var(--jp-ui-font-color1, rgba(0, 0, 0, .87)); }
.saga-table table { border-collapse: collapse; width: 100%; }
.saga-table th { position: sticky; top: 0; background: var(--jp-layout-color2, #eee);
  text-align: left; padding: 2px 6px; }
.saga-table td { padding: 2px 6px; border-top: 1px solid var(--jp-border-color2, #e0e0e0);
  white-space: nowrap; }
.saga-table tr[data-name] { cursor: pointer; }
.saga-table tr[data-name]:hover { background: var(--jp-layout-color2, #eee); }
.saga-table tr.saga-stale { opacity: .5; }
.saga-table tr.saga-selected {
  background: color-mix(in srgb, var(--jp-brand-color1, #1976d2) 24%, transparent); }
.saga-table td.saga-preview { max-width: 32em; overflow: hidden; text-overflow: ellipsis;
  font-family: var(--jp-code-font-family, monospace); }
.saga-badge { border-radius: 8px; padding: 0 6px; color: #fff; font-weight: 600; }
.saga-running { background: var(--jp-success-color1, #388e3c); }
.saga-completed { background: #607d8b; }
.saga-outcome[title] { cursor: help; }
.saga-cycle { color: var(--jp-ui-font-color2, rgba(0, 0, 0, .54)); }
""" + "".join(
    f".saga-outcome-{outcome.lower().replace('_', '-')} {{ background: {back}; color: {text}; }}\n"
    for outcome, (back, text) in OUTCOME_COLOURS.items()
)


class SessionRows(anywidget.AnyWidget):
    """The rows of a :class:`SessionTable`: kernel-rendered HTML, a click sets ``selected``."""

    _esm = traitlets.Unicode(ESM).tag(sync=True)
    _css = traitlets.Unicode(CSS).tag(sync=True)
    html = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    now = traitlets.Float(0.0).tag(sync=True)


class SessionTable(widgets.VBox):  # type: ignore[misc]
    """A live table of SAGA sessions with epic, story and status filters.

    It follows the sessions through the kernel's engine (:mod:`~..core.engine`) until
    :meth:`close`; with ``server`` (a Jupyter server's URL, its ``token`` or
    ``$SAGA_REMOTE_TOKEN``), that server's list instead, its remotes' sessions included, with
    a host column and filter, stale hosts' rows greyed with the reason. Clicking a row sets
    :attr:`selected` and calls the :meth:`on_select` callbacks with its key
    (:func:`~.rows.row_key`).
    """

    selected = traitlets.Unicode(
        None, allow_none=True, help="The selected row's key: its session's name[@host]."
    )

    def __init__(
        self,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        tmux_socket_name: str | None = None,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
        server: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.engine: Engine | ServerView
        if server is not None:
            token = token if token is not None else os.environ.get(TOKEN_ENV, "")
            self.engine = ServerView(ServerClient.of(server, token, "server"))
            self._where = server
        else:
            self.engine = engine_for(resolve(output_dir, tmux_socket_name))
            self._where = f"{self.engine.settings.output_dir} or tmux"
        self._drawn_with: dict[str, str] | None = None  # the reasons the cached rows show
        self._clock = clock
        self._lock = threading.RLock()  # updates come from the engine's thread and the user's
        self._syncing = False  # options being replaced: not a user's choice of filter
        self._row_cache: RowCache = {}
        self._select_handlers = widgets.CallbackDispatcher()
        #: Every session of the last update, and those the filters let through.
        self.sessions: list[SessionInfo] = []
        self.shown: list[SessionInfo] = []
        self.epic_filter = widgets.Dropdown(description="Epic", options=[("all", ALL)])
        self.story_filter = widgets.Dropdown(description="Story", options=[("all", ALL)])
        self.status_filter = widgets.Dropdown(
            description="Status", options=[("all", ALL), *((s, s) for s in STATUSES)]
        )
        self.summary = widgets.HTML()
        self.rows = SessionRows()
        self.host_filter = widgets.Dropdown(description="Host", options=[("all", ALL)])
        self.host_filter.layout.display = "none"  # until a session has a host
        filters = [self.host_filter, self.epic_filter, self.story_filter, self.status_filter]
        for dropdown in filters:
            dropdown.layout.width = "220px"
            dropdown.observe(self._on_filter, "value")
        self._bar = widgets.HBox([*filters, self.summary])
        super().__init__(children=[self._bar, self.rows], **kwargs)
        self.rows.observe(self._on_row_click, "selected")
        self.observe(self._on_selected, "selected")
        self._lease = self.engine.use(interval)
        self.engine.refresh()  # the rows are there when this returns
        self.update(self.engine.add_listener(self.update))

    def update(self, sessions: Sequence[SessionInfo]) -> None:
        """Show ``sessions`` (newest first), keeping the filters the user chose."""
        with self._lock:
            self.sessions = list(sessions)
            self._sync_options()
            self._render()

    def refresh(self) -> None:
        """Scan now and show the result."""
        self.engine.refresh(always=True)

    def on_select(self, callback: Callable[[str], Any], remove: bool = False) -> None:
        """Call ``callback(key)`` whenever a row is selected (``remove=True`` unregisters it)."""
        self._select_handlers.register_callback(callback, remove=remove)

    def close(self) -> None:
        """Stop following the sessions (the engine stops once nobody uses it)."""
        self.engine.remove_listener(self.update)
        self._lease.close()
        for child in (*self._bar.children, self._bar, self.rows):
            child.close()
        super().close()

    def _render(self) -> None:
        epic, story = self.epic_filter.value, self.story_filter.value
        status, host = self.status_filter.value, self.host_filter.value
        self.shown = [
            info
            for info in self.sessions
            if info.matches(status or None, epic or None, story or None)
            and (host == ALL or info.host == (None if host == OWN else host))
        ]
        error = getattr(self.engine, "error", None)
        if self.sessions:
            empty = "No session matches these filters."
        else:
            empty = f"No SAGA sessions in {self._where}" + (f": {error}" if error else ".")
        reasons = self._reasons()
        if reasons != self._drawn_with:
            self._row_cache.clear()  # rows drawn with another host column or reasons
            self._drawn_with = reasons
        now = self._clock()
        markup = render_rows(self.shown, now, empty, self._row_cache, reasons)
        with self.rows.hold_sync():
            self.rows.now = now
            self.rows.html = markup
        counts = f"{len(self.shown)} of {len(self.sessions)} sessions"
        stale = "".join(f"; {host} stale: {why}" for host, why in (reasons or {}).items())
        self.summary.value = html.escape(counts + stale + (f"; {error}" if error else ""))

    def _reasons(self) -> dict[str, str] | None:
        """Each stale host's reason, or ``None`` when no session has a host (no host column)."""
        if not any(info.host for info in self.sessions):
            return None
        reasons: dict[str, str] = getattr(self.engine, "reasons", {})
        stale = {info.host for info in self.sessions if info.stale and info.host}
        return {host: reasons.get(host, "it does not answer") for host in sorted(stale)}

    def _sync_options(self, keep_story: bool = True) -> None:
        hosts = {info.host for info in self.sessions if info.host}
        self.host_filter.layout.display = None if hosts else "none"
        host_options = (("all", ALL), ("this server", OWN), *((h, h) for h in sorted(hosts)))
        if hosts and tuple(self.host_filter.options) != host_options:
            current = self.host_filter.value
            self._syncing = True
            try:
                with self.host_filter.hold_trait_notifications():
                    self.host_filter.options = host_options
                    self.host_filter.value = current if current in (ALL, OWN, *hosts) else ALL
            finally:
                self._syncing = False
        epic = self.epic_filter.value
        epics = {info.epic_slug for info in self.sessions if info.epic_slug is not None}
        stories = {info.story_slug for info in self.sessions if epic in (ALL, info.epic_slug)}
        self._syncing = True
        try:
            for dropdown, values in ((self.epic_filter, epics), (self.story_filter, stories)):
                current = dropdown.value
                if not keep_story and dropdown is self.story_filter and current not in values:
                    current = ALL  # the user picked another epic: its stories, not the old one
                # A chosen value stays offered while nothing matches it: the filter holds.
                wanted = sorted(values | ({current} - {ALL}))
                options = (("all", ALL), *((value, value) for value in wanted))
                if tuple(dropdown.options) != options:
                    with dropdown.hold_trait_notifications():
                        dropdown.options = options
                        dropdown.value = current
        finally:
            self._syncing = False

    def _on_filter(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            with self._lock:
                if change["owner"] is self.epic_filter:
                    self._sync_options(keep_story=False)  # offer the stories of that epic
                self._render()

    def _on_row_click(self, change: dict[str, Any]) -> None:
        self.selected = change["new"]

    def _on_selected(self, change: dict[str, Any]) -> None:
        name = change["new"]
        self.rows.selected = name
        if name is not None:
            self._select_handlers(name)
