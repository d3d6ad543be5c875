"""``Dashboard``: the one-line view of every worker: health, a timeline, the table and a log.

The kernel's engine (:mod:`~..core.engine`) feeds everything; the log viewer follows the
selected row.
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from ..core.display import OUTCOME_COLOURS, OUTCOME_LABELS
from ..core.durations import elapsed, format_duration
from ..core.engine import DEFAULT_INTERVAL, Engine, engine_for
from ..core.info import SessionInfo
from ..core.serverview import ServerView
from ..core.settings import resolve
from .logviewer import LogViewer
from .rows import format_time, row_key, split_key
from .serverlog import ServerLogViewer
from .table import SessionTable

MAX_BARS = 200  # the newest sessions; older ones would be slivers anyway
LANE_PX = 9
BAR_PX = 7
MIN_SPAN = 60.0  # seconds: a timeline of brand-new sessions is not all bar
NO_EPIC = "(no epic)"  # today's workers whose story's project is not known
# JupyterLab's theme colours (light and dark), with fallbacks where they are not defined.
SUCCESS, WARN, ERROR = (
    "var(--jp-success-color1, #2e7d32)",
    "var(--jp-warn-color1, #ef6c00)",
    "var(--jp-error-color1, #c62828)",
)
MUTED = "var(--jp-ui-font-color2, #888)"
SELECTED = "var(--jp-brand-color1, #1565c0)"
COLOURS = {"running": SUCCESS, "completed": "var(--jp-layout-color4, #607d8b)"}
# The hover label: the bar's story, status and duration, above the bar, in the theme's colours.
TIMELINE_CSS = """<style>
.saga-bar { position: absolute; min-width: 2px; border-radius: 2px; cursor: default; }
.saga-bar:hover { outline: 1px solid var(--jp-ui-font-color0, #000); z-index: 2; }
.saga-bar:hover::after { content: attr(data-label); position: absolute; bottom: 9px; left: 0;
  white-space: nowrap; padding: 1px 6px; border-radius: 3px; font-size: 11px;
  background: var(--jp-layout-color0, #fff); color: var(--jp-ui-font-color0, #000);
  border: 1px solid var(--jp-border-color1, #bbb); box-shadow: 0 1px 3px rgba(0,0,0,.3); }
</style>"""


def render_status(live: Engine, sessions: Sequence[SessionInfo]) -> str:
    """The status line: whether tmux answers, counts by status, the output directory."""
    esc = html.escape
    if live.tmux_error is not None:
        tmux = f'<b style="color:{ERROR}">tmux unreachable</b> ({esc(live.tmux_error)})'
    elif live.tmux_server_running:
        tmux = f'<b style="color:{SUCCESS}">tmux reachable</b>'
    else:
        tmux = "<b>tmux reachable</b>, no server running"
    directory = esc(str(live.settings.output_dir))
    if not live.output_dir_exists:
        directory += " (missing)"
    return _status_line(tmux, sessions, f"output in <code>{directory}</code>", directory)


def render_server_status(view: ServerView, sessions: Sequence[SessionInfo]) -> str:
    """The status line of a server's view: whether it answers, counts, stale hosts, its URL."""
    esc = html.escape
    if view.error is not None:
        health = f'<b style="color:{ERROR}">cannot read the server</b> ({esc(view.error)})'
    else:
        health = f'<b style="color:{SUCCESS}">server answering</b>'
    health += "".join(
        f' &middot; <b style="color:{WARN}">{esc(host)}</b> not answering ({esc(why)})'
        for host, why in sorted(view.reasons.items())
    )
    where = esc(view.where)
    return _status_line(health, sessions, f"from <code>{where}</code>", where)


def _status_line(health: str, sessions: Sequence[SessionInfo], where: str, tip: str) -> str:
    running = sum(1 for info in sessions if info.status == "running")
    waiting = sum(1 for info in sessions if info.worker and info.worker.needs_attention)
    attention = (
        f' &middot; <b style="color:{WARN}">{waiting}</b> blocked or failed' if waiting else ""
    )
    # One line, however long: what does not fit is cut, and shown on hover.
    return (
        '<div style="white-space:nowrap;overflow:hidden;text-overflow:ellipsis" '
        f'title="{tip}">'
        f"{health} &middot; <b>{running}</b> running &middot; "
        f"<b>{len(sessions) - running}</b> completed{attention} &middot; {where}</div>"
    )


def lanes(sessions: Sequence[SessionInfo], now: float) -> list[tuple[SessionInfo, int]]:
    """Each session with the lowest lane where it overlaps no other (oldest first)."""
    ends: list[float] = []  # per lane, when its last bar ends
    placed = []
    for info in sorted(sessions, key=lambda item: (_start(item, 0.0), item.name)):
        start = _start(info, 0.0)
        end = _end(info, now)
        lane = next((i for i, lane_end in enumerate(ends) if lane_end <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        placed.append((info, lane))
    return placed


def bar_label(info: SessionInfo, start: float, end: float) -> str:
    """What a bar says on hover: story, status (and how it ended, or its cycle), duration.

    >>> from saga_jupyter.core.info import SessionInfo
    >>> info = SessionInfo("saga__a__login__1", "a", "login", "completed", "", False,
    ...                    None, None, None, None)
    >>> bar_label(info, 0, 65)
    'login · completed · 1m 5s'
    """
    progress = OUTCOME_LABELS.get(info.outcome or "", info.progress)
    status = f"{info.status} ({progress})" if progress else info.status
    return f"{info.story_slug} · {status} · {format_duration(elapsed(start, end))}"


def render_timeline(
    sessions: Sequence[SessionInfo], now: float, selected: str | None = None
) -> str:
    """One bar per session from its start to its end (or now), grouped by epic, as HTML.

    ``selected``: the selected row's key (:func:`~.rows.row_key`), its bar outlined.
    """
    esc = html.escape
    all_timed = [info for info in sessions if info.start_time is not None]
    timed = all_timed[:MAX_BARS]
    if not timed:
        return ""
    # The window ends now (its right edge says so) and spans at least MIN_SPAN: before the
    # first minute it starts before the first session, and running bars still reach "now".
    first = min(min(_start(info, now) for info in timed), now - MIN_SPAN)
    span = now - first
    groups: dict[str, list[SessionInfo]] = defaultdict(list)
    for info in timed:
        groups[info.epic_slug or NO_EPIC].append(info)
    parts = [
        TIMELINE_CSS,
        '<div class="saga-timeline" style="font-size:11px;margin:4px 0">'
        '<div style="display:flex;justify-content:space-between;margin-left:10em;'
        f'color:{MUTED}"><span>{esc(format_time(first))}</span><span>now</span></div>',
    ]
    for epic in sorted(groups):
        placed = lanes(groups[epic], now)
        height = (max(lane for _, lane in placed) + 1) * LANE_PX
        parts.append(
            '<div style="display:flex;align-items:center;margin:2px 0">'
            '<div style="width:10em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap"'
            f' title="{esc(epic)}">{esc(epic)}</div>'
            '<div style="position:relative;flex:1;background:rgba(128,128,128,.12);'
            f'height:{height}px">'
        )
        for info, lane in placed:
            start, end = _start(info, first), _end(info, now)
            left = (start - first) / span * 100
            width = max(0.0, end - start) / span * 100
            chosen = row_key(info.name, info.host) == selected
            outline = f"outline:2px solid {SELECTED};" if chosen else ""
            label = bar_label(info, start, end)
            tip = f"{info.name} · started {format_time(start)}"
            parts.append(
                f'<div class="saga-bar" data-name="{esc(info.name)}" data-label="{esc(label)}" '
                f'data-status="{info.status}" '
                f'title="{esc(label)}&#10;{esc(tip)}" aria-label="{esc(label)}" '
                f'style="left:{left:.3f}%;width:{width:.3f}%;top:{lane * LANE_PX + 1}px;'
                f'height:{BAR_PX}px;background:{_colour(info)};{outline}"></div>'
            )
        parts.append("</div></div>")
    hidden = len(all_timed) - len(timed)
    if hidden > 0:
        parts.append(f'<div style="color:{MUTED}">{hidden} older sessions not shown</div>')
    parts.append("</div>")
    return "".join(parts)


class Dashboard(widgets.VBox):  # type: ignore[misc]
    """Every SAGA worker, live: tmux health and counts, a timeline, the table, the log.

    Selecting a row shows that session's output below; until one is selected the newest
    running session (else the newest) is shown. :meth:`close` stops all background work.
    With ``server`` (a Jupyter server's URL; ``token``, default ``$SAGA_REMOTE_TOKEN``): that
    server's sessions, its remotes' included, and their logs read through its REST API.
    """

    def __init__(
        self,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        tmux_socket_name: str | None = None,
        interval: float = DEFAULT_INTERVAL,
        max_lines: int = 5000,
        clock: Callable[[], float] = time.time,
        server: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._clock = clock
        self._lock = threading.RLock()  # scans arrive on the engine's thread, selections on others
        self.engine: Engine | ServerView
        self.status = widgets.HTML()
        self.timeline = widgets.HTML()
        self.viewer: LogViewer
        if server is not None:
            self.table = SessionTable(server=server, token=token, interval=interval, clock=clock)
            view = self.table.engine  # one view of the server, asked by one thread
            assert isinstance(view, ServerView)  # what a table given a server follows
            self.engine = view
            self.viewer = ServerLogViewer(view, max_lines=max_lines)
        else:
            settings = resolve(output_dir, tmux_socket_name)
            self.engine = engine_for(settings)
            self.table = SessionTable(**settings._asdict(), interval=interval, clock=clock)
            self.viewer = LogViewer(
                None,
                output_dir=settings.output_dir,
                tmux_socket_name=settings.tmux_socket_name,
                max_lines=max_lines,
            )
        # A shorter log pane than on its own, so the whole dashboard fits a laptop's screen
        # below its cell (the pane can be dragged taller).
        self.viewer.add_class("sj-compact")
        super().__init__(children=[self.status, self.timeline, self.table, self.viewer], **kwargs)
        self.table.on_select(self._show)
        self._lease = self.engine.use(interval)
        # Every scan, not only on changes: running bars grow.
        self.update(self.engine.add_listener(self.update, every_scan=True))

    def select(self, name: str, host: str | None = None) -> None:
        """Select a session (of ``host``, or this server's), as a click on its row does."""
        self.table.selected = row_key(name, host)

    def update(self, sessions: Sequence[SessionInfo]) -> None:
        """Show ``sessions`` in the status line and the timeline (the table updates itself)."""
        with self._lock:
            if isinstance(self.engine, ServerView):
                self.status.value = render_server_status(self.engine, sessions)
            else:
                self.status.value = render_status(self.engine, sessions)
            self.timeline.value = render_timeline(sessions, self._clock(), self.table.selected)
            if self.table.selected is None and sessions:
                running = [info for info in sessions if info.status == "running"]
                first = (running or list(sessions))[0]
                self.select(first.name, first.host)

    def refresh(self) -> None:
        """Scan now and show the result everywhere."""
        self.engine.refresh(always=True)

    def close(self) -> None:
        """Stop following (the engine stops once nobody uses it); close every widget."""
        self.engine.remove_listener(self.update)  # first: no scan lands in a closing widget
        self._lease.close()
        self.table.close()
        self.viewer.close()
        self.status.close()
        self.timeline.close()
        super().close()

    def _show(self, key: str) -> None:
        with self._lock:
            name, host = split_key(key)
            if isinstance(self.viewer, ServerLogViewer):
                self.viewer.show(name, host)
            else:
                self.viewer.name = name
            # The engine's list, not the table's: on the first scan the table is not filled yet.
            self.timeline.value = render_timeline(
                self.engine.sessions, self._clock(), self.table.selected
            )


def _start(info: SessionInfo, otherwise: float) -> float:
    """Where a session's bar starts: its start time, or ``otherwise`` when unknown."""
    return info.start_time.timestamp() if info.start_time is not None else otherwise


def _end(info: SessionInfo, now: float) -> float:
    """Where a session's bar ends: its end time, or now while it runs (or its end is unknown)."""
    if info.end_time is not None and info.status == "completed":
        return info.end_time.timestamp()
    return now


def _colour(info: SessionInfo) -> str:
    """A bar's colour: running, or how it ended (finished, blocked, failed), else completed."""
    outcome = info.outcome
    if info.status == "running" or outcome is None:
        return COLOURS[info.status]
    return OUTCOME_COLOURS[outcome][0] if outcome in OUTCOME_COLOURS else ERROR
