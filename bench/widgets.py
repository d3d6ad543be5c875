"""The kernel widgets: ``SessionTable`` in a real kernel, ``LogViewer`` on a large, growing log
(in this process, playing the kernel). How each is measured: ``bench/README.md``.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from bench import MIB, REPO, Plan, Report, log, percentile, timed, worker_output
from tests.harness import Writer, now_ns, rss_bytes, stat_fields

LINE = re.compile(r"L(\d{7}) (\d+) ")
VIEWER = "saga__bench__viewer__1"
MAX_LINES = 5000
KERNEL_CODE = "import bench.widgets; bench.widgets.measure_table({}, {}, {!r})"


def session_lists(count: int, updates: int) -> list[list[Any]]:
    """``updates + 1`` lists of ``count`` sessions, each changed from the one before."""
    from saga_jupyter.core.info import SessionInfo

    now, made, lists = time.time(), {}, []
    for version in range(updates + 1):
        row = []
        for index in range(count + version, version, -1):  # newest first, one more each version
            stamp, running = (version + index) // 50, ((version + index) // 250 + index) % 3 != 0
            if (index, stamp, running) not in made:  # an unchanged session: the same object
                epic, story, begun = f"epic-{index % 12}", f"story-{index % 37}", now - index * 7
                name = f"saga__{epic}__{story}__{index}"
                made[index, stamp, running] = SessionInfo(
                    name, epic, story, "running" if running else "completed",
                    f"/tmp/saga-sessions/{name}.out", True, begun,
                    None if running else begun + 600, begun + 300 + stamp,
                    f"step {stamp} of <task> {index}\n\x1b[32m✓\x1b[0m tests passed",
                )  # fmt: skip
            row.append(made[index, stamp, running])
        lists.append(row)
    return lists


def measure_table(count: int, updates: int, path: str) -> None:
    """Time the table, its filter, the timeline and the peer in this process (a kernel); write
    the figures (ms) to ``path`` as JSON."""
    import ipywidgets as widgets

    from saga_jupyter.widgets.dashboard import render_timeline
    from saga_jupyter.widgets.table import SessionTable

    lists = session_lists(count, updates)
    table = SessionTable(output_dir="/nonexistent/saga-bench", tmux_socket_name="saga-bench-none")
    table.update(lists[0])
    result = {"update": [timed(table.update, sessions) for sessions in lists[1:]]}
    result["filter"] = [timed(setattr, table.epic_filter, "value", e) for e in ["epic-3", ""] * 5]
    result["timeline"] = [timed(render_timeline, sessions, time.time()) for sessions in lists[1:21]]
    table.close()

    def rebuild(box: Any, sessions: list[Any]) -> None:
        old, fields = box.children, ("name", "epic_slug", "story_slug", "status", "start_time",
                                     "end_time", "last_activity", "output_preview")  # fmt: skip
        box.children = [
            widgets.HBox([widgets.Label(str(getattr(info, f))) for f in fields])
            for info in sessions
        ]
        for row in old:  # what a correct peer must do too, or leak 9 widgets a session
            for widget in [*row.children, row]:
                widget.close()

    box = widgets.VBox()
    result["peer"] = [timed(rebuild, box, sessions) for sessions in lists[1:3]]
    Path(path).write_text(json.dumps(result))


def table_in_kernel(plan: Plan, workdir: Path, report: Report) -> None:
    """Run :func:`measure_table` in a fresh kernel; it writes its figures to a file.

    Only the shell channel's reply is awaited: the thousands of widget messages on IOPub can
    overflow its high-water mark, and then the kernel's "idle" is lost.
    """
    from jupyter_client.manager import start_new_kernel

    log(f"SessionTable: {plan.table_updates} updates of {plan.table_sessions} sessions in a kernel")
    figures = workdir / "table.json"
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(REPO))
    try:
        sent = client.execute(KERNEL_CODE.format(plan.table_sessions, plan.table_updates,
                                                 str(figures)))  # fmt: skip
        # The reply to this request: on a loaded machine, the kernel_info request that
        # start_new_kernel repeats each second leaves its late reply in the shell channel.
        while (reply := client.get_shell_msg(timeout=600))["parent_header"].get("msg_id") != sent:
            log(f"kernel: passed over a {reply['msg_type']} on the shell channel")
        content = reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    if content.get("status") != "ok":
        raise RuntimeError("the kernel failed:\n" + "\n".join(content.get("traceback", [])))
    result = json.loads(figures.read_text())
    n = f"{plan.table_sessions:,} sessions"
    update, peer = result["update"], result["peer"]
    report.quantiles(
        f"SessionTable.update, {n}; peer: HBoxes of Labels", update, peer, "< 200 ms", 200
    )
    report.quantiles("filter change", result["filter"], None, "< 200 ms", 200)
    report.add(f"p50, Dashboard timeline, {n}", percentile(result["timeline"], 50))


class Sent:
    """Messages a widget handed to its comm, each with its CLOCK_MONOTONIC time (ns)."""

    def __init__(self) -> None:
        self.messages: list[tuple[int, Any]] = []
        self.first = threading.Event()

    def record(self, message: Any) -> None:
        """As cheap as can be: the parsing waits for the end of the run."""
        self.messages.append((now_ns(), message))
        self.first.set()

    def latencies(self, since: int, warmup: int) -> tuple[list[float], int]:
        """Each line's first message, in ms from its write; and how many lines were seen."""
        seen: dict[int, float] = {}
        for at, message in self.messages[since:]:
            for seq, stamp in LINE.findall(json.dumps(message)):
                seen.setdefault(int(seq), (at - int(stamp)) / 1e6)
        return [ms for seq, ms in seen.items() if seq >= warmup], len(seen)


def timed_viewer(directory: Path, tmux: Any, sent: Sent) -> Any:
    """A ``LogViewer`` recording the lines it appends."""
    from saga_jupyter.widgets.logviewer import LogViewer

    class TimedViewer(LogViewer):  # type: ignore[misc]
        def send(self, content: Any, buffers: Any = None) -> None:
            if content.get("type") == "append":
                sent.record(content)
            super().send(content, buffers)

        stop = LogViewer.close

    return TimedViewer(VIEWER, output_dir=directory, tmux_socket_name=tmux.socket_name)


def timed_html(sent: Sent) -> Any:
    """An ``ipywidgets.HTML`` recording the updates it sends."""
    import ipywidgets

    class TimedHTML(ipywidgets.HTML):  # type: ignore[misc]
        def _send(self, msg: Any, buffers: Any = None) -> None:
            if msg.get("method") == "update":
                sent.record(msg)
            super()._send(msg, buffers)

    return TimedHTML()


class WholeTextPeer:
    """The growing-trait way: the last 5,000 lines, escaped, re-set whole on each file event."""

    def __init__(self, path: Path, sent: Sent) -> None:
        from saga_jupyter.core.watch.dirwatch import DirectoryWatch
        from saga_jupyter.core.watch.tailer import Tailer

        self.widget, self.tailer = timed_html(sent), Tailer.from_tail(path, 256 * 1024)
        self.lines: deque[str] = deque(maxlen=MAX_LINES)
        self.wake, self.done, self.partial = threading.Event(), False, ""
        self.watch = DirectoryWatch(path.parent)
        self.watch.add_listener(lambda filename, _: filename == path.name and self.wake.set())
        self.watch.start()
        self.thread = threading.Thread(target=self.follow, daemon=True)
        self.thread.start()

    def follow(self) -> None:
        """Read what was appended; show the whole text again."""
        while not self.done:
            if (chunk := self.tailer.read(1 << 30)) is not None:
                *complete, self.partial = (self.partial + chunk.data).split("\n")
                self.lines.extend(complete)
                self.widget.value = "<pre>" + html.escape("\n".join(self.lines)) + "</pre>"
            self.wake.wait(1.0)  # woken by the watch: the timeout is a backstop
            self.wake.clear()

    def stop(self) -> None:
        """Stop following."""
        self.done = True
        self.wake.set()
        self.thread.join()
        self.watch.stop()
        self.tailer.close()
        self.widget.close()


def first_content(plan: Plan, directory: Path, tmux: Any, report: Report) -> None:
    """A new viewer on a large log, ``viewer_runs`` times: to its first message; RSS growth."""
    path, tail = directory / f"{VIEWER}.out", worker_output(4 * MIB)
    with path.open("wb") as file:
        file.truncate(plan.viewer_mib * MIB - len(tail))
        file.seek(0, 2)
        file.write(tail)
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    growth = {}
    for side, times_of_side in times.items():
        before = rss_bytes(stat_fields(os.getpid()) or [])
        for _ in range(plan.viewer_runs):
            sent, began = Sent(), now_ns()
            if side == "ours":
                widget = timed_viewer(directory, tmux, sent)
                if not sent.first.wait(10):
                    raise RuntimeError("the viewer showed nothing within 10 s")
            else:
                widget = timed_html(sent)
                text = subprocess.run(["tail", "-n", str(MAX_LINES), path], capture_output=True)
                widget.value = (
                    "<pre>" + html.escape(text.stdout.decode(errors="replace")) + "</pre>"
                )
            times_of_side.append((sent.messages[0][0] - began) / 1e6)
            widget.close()
        growth[side] = (rss_bytes(stat_fields(os.getpid()) or []) - before) / MIB
    size = (
        f"{plan.viewer_mib / 1024:g} GiB" if plan.viewer_mib >= 1024 else f"{plan.viewer_mib} MiB"
    )
    figure = f"LogViewer first content, {size} log; peer: `tail -n 5000` into an HTML"
    report.quantiles(figure, times["ours"], times["peer"], "< 1 s", 1000)
    figure = f"kernel RSS growth over {plan.viewer_runs} new viewers"
    report.add(figure, growth["ours"], growth["peer"], "MiB", "< 64 MiB", growth["ours"] < 64)
    path.unlink()


def streaming(plan: Plan, directory: Path, tmux: Any, report: Report) -> None:
    """Appended lines to the messages holding them, ours and the whole-text peer."""
    results, seconds = {}, plan.seconds * 2
    for side in ("ours", "peer"):
        path, sent = directory / f"{VIEWER}.out", Sent()
        path.write_bytes(worker_output(64 * 1024))
        widget = (
            timed_viewer(directory, tmux, sent) if side == "ours" else WholeTextPeer(path, sent)
        )
        writer = Writer([str(path)], plan.rate, seconds)
        try:
            if not sent.first.wait(10):
                raise RuntimeError(f"{side}: nothing shown within 10 s")
            since = len(sent.messages)
            writer.process.start()
            writer.process.join(seconds + 30)
            time.sleep(0.5)  # the last lines' messages (the viewer sends at most every 25 ms)
        finally:
            widget.stop()
            writer.stop()
        latencies, seen = sent.latencies(since, int(plan.rate * plan.warmup))
        per_s = sum(len(json.dumps(m)) for _, m in sent.messages[since:]) / seconds / 1024
        results[side] = (latencies, seen, per_s)
        path.unlink()
    (ours, seen, per_s), (peer, _, peer_per_s) = results["ours"], results["peer"]
    figure = f"LogViewer append-to-send, {plan.rate} lines/s"
    complete = seen == int(plan.rate * seconds)
    report.quantiles(figure, ours, peer, "< 100 ms, every line", 100 if complete else -1)
    figure = "bytes sent to the page while streaming"
    report.add(
        figure, per_s, peer_per_s, "KiB/s", "only what was appended", per_s < peer_per_s / 10
    )


def run(plan: Plan, workdir: Path, tmux: Any, report: Report) -> None:
    """Both measurements; the viewer's session runs in tmux (its status checks are in the cost)."""
    report.case = "widgets"
    table_in_kernel(plan, workdir, report)
    tmux.cmd("new-session", "-d", "-s", VIEWER, "sleep 3600")
    log(f"LogViewer: first content of a {plan.viewer_mib} MiB log, {plan.viewer_runs} times")
    first_content(plan, workdir, tmux, report)
    log(f"LogViewer: {plan.rate} lines/s for {plan.seconds * 2:g} s")
    streaming(plan, workdir, tmux, report)
