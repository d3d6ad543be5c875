r"""The transcript: a v4 worker's messages as a person reads them, as terminal text.

The one renderer of every client (the server's channel, the LogViewer widget, ``saga-jupyter
tail``): each complete JSON line becomes one or more ``\n``-ended lines with ANSI colours:
cycle boundaries, the agent's text as written, each tool call as its name and key argument,
tool results by their first lines (errors in red), each cycle's result with its turns,
duration and cost, the pipeline's start, steps and end. A message it does not know is shown
compactly, never dropped; a line that is no message says so. Every line is bounded, and the
workers' text is stripped of control characters (an agent's output must not drive the
viewer's terminal).

>>> render_line(b'{"type":"saga_worker","subtype":"cycle_start","cycle":2,"maxCycles":10}')
'\x1b[1;36m── cycle 2/10 ──\x1b[0m\n'
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .lines import LineBuffer, parse_message
from .terminal import (
    ARG_CHARS,
    BOLD,
    CYAN,
    DIM,
    GREEN,
    JSON_CHARS,
    MAGENTA,
    MAX_LINE_CHARS,
    RED,
    RESULT_LINES,
    YELLOW,
    clock,
    compact_json,
    count_lines,
    cut,
    duration,
    first_lines,
    one_line,
    paint,
    plain,
    text_lines,
)

MAX_BLOCKS = 50  # content blocks rendered of one message
# Tool name -> the argument that says what the call does (as SAGA's own LogViewer picks).
KEY_ARGUMENTS = {
    "Bash": "command",
    "Read": "file_path",
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
    "Glob": "pattern",
    "Grep": "pattern",
    "WebSearch": "query",
    "WebFetch": "url",
    "Task": "description",
    "Agent": "description",
    "TaskCreate": "subject",
    "TaskGet": "taskId",
    "Skill": "skill",
}
TASK_COLOURS = {"completed": GREEN, "in_progress": YELLOW}


def render_line(line: bytes | str | dict[str, Any], *, cycle: int | None = None) -> str:
    r"""One line of a ``.jsonl`` (raw, decoded, or parsed) as ``\n``-ended terminal lines.

    ``cycle``: the cycle it belongs to, when known (a ``result`` names it). Never raises.
    """
    if isinstance(line, dict):
        message = line
    else:
        raw = line.encode("utf-8", errors="replace") if isinstance(line, str) else line
        parsed, problem = parse_message(raw, line if isinstance(line, str) else None)
        if parsed is None:
            return _not_a_message(problem, raw)
        message = parsed
    try:
        lines = _render(message, cycle)
    except Exception:  # a shape we did not foresee: shown as unknown, never lost
        lines = [_compact(message)]
    # Every part is bounded already; this bounds what styles and indents add to a line.
    return "".join(f"{cut(line, 2 * MAX_LINE_CHARS)}\n" for line in lines)


class Rendered(NamedTuple):
    """The rendering of the complete lines of some text, and the file offset after them."""

    text: str
    offset: int


class Transcript:
    """Renders a ``.jsonl`` fed as decoded text chunks (as a tailer reads it), line by line.

    ``offset``: the byte offset in the file of the first text fed, at a line start. Only
    complete lines are rendered; a partial one waits for its newline (one over
    :data:`~.lines.MAX_LINE_BYTES` is dropped as it comes and said so once complete).
    """

    def __init__(self, offset: int = 0) -> None:
        self.reset(offset)

    def reset(self, offset: int = 0) -> None:
        """Start again at byte ``offset`` (a line start), nothing held."""
        #: The byte offset just after the last complete line rendered.
        self.offset = offset
        self._lines = LineBuffer("\n", _bytes)
        self._cycle: int | None = None

    def feed(self, text: str, end_offset: int | None = None) -> Rendered:
        """Render the complete lines ``text`` ends; ``end_offset``: the file offset after it."""
        lines = self.feed_lines(text, end_offset)
        return Rendered("".join(rendering for _, rendering in lines), self.offset)

    def feed_lines(self, text: str, end_offset: int | None = None) -> list[tuple[int, str]]:
        """:meth:`feed`, each line's rendering apart with the file offset where the line starts.

        The offsets are counted from the text's UTF-8 length, which is exact for what SAGA
        writes (``JSON.stringify`` is valid UTF-8). Where a file holds invalid bytes, the
        decoder made each bad sequence one U+FFFD (3 bytes once encoded), so a count through
        them can be off; ``end_offset`` (the tailer's, from the bytes themselves) puts
        :attr:`offset` right again after each chunk: only the held partial line is counted.
        """
        rendered: list[tuple[int, str]] = []
        for line, size in self._lines.split(text):
            if line is None:
                notice = f"⚠ a line of {size} bytes, over the limit: skipped"
                rendered.append((self.offset, paint(YELLOW, notice) + "\n"))
            else:
                rendered.append((self.offset, self._render(line)))
            self.offset += size + 1
        if end_offset is not None:
            self.offset = end_offset - self._lines.held
        return rendered

    def _render(self, line: str) -> str:
        raw = line.encode("utf-8", errors="replace")
        message, problem = parse_message(raw, line)
        if message is None:
            return _not_a_message(problem, raw)
        if message.get("type") == "saga_worker" and message.get("subtype") == "cycle_start":
            cycle = message.get("cycle")
            self._cycle = cycle if type(cycle) is int else None
        return render_line(message, cycle=self._cycle)


def _bytes(text: str) -> int:
    # An ASCII string's length is its UTF-8 length (isascii() is O(1) on CPython's strings).
    return len(text) if text.isascii() else len(text.encode("utf-8", errors="replace"))


# -- one message


def _render(message: dict[str, Any], cycle: int | None) -> list[str]:
    kind, subtype = message.get("type"), message.get("subtype")
    if kind == "saga_worker":
        lines = _worker(subtype, message)
    elif kind == "assistant":
        lines = _assistant(message.get("message"))
    elif kind == "user":
        lines = _user(message.get("message"))
    elif kind == "result":
        lines = _result(message, cycle)
    elif kind == "system":
        lines = _system(subtype, message)
    else:
        lines = None
    if not lines:
        return [_compact(message)]
    if message.get("parent_tool_use_id"):  # inside a Task's subagent: indented under it
        lines = [f"  {paint(DIM, '┆')} {line}" for line in lines]
    return lines


def _worker(subtype: object, message: dict[str, Any]) -> list[str] | None:
    at = clock(message.get("timestamp"))
    if subtype == "cycle_start":
        of = f"/{plain(message.get('maxCycles'))}" if "maxCycles" in message else ""
        line = paint(f"{BOLD};{CYAN}", f"── cycle {plain(message.get('cycle'))}{of} ──")
        return [f"{line} {paint(DIM, at)}" if at else line]
    if subtype == "cycle_end":
        code = message.get("exitCode")
        text = f"── cycle {plain(message.get('cycle'))} ended (exit {plain(code)}) ──"
        return [paint(DIM if code == 0 else RED, text)]
    prefix = paint(DIM, at) + " " if at else ""
    if subtype == "pipeline_start":
        return [prefix + paint(CYAN, f"▶ pipeline started: story {plain(message.get('storyId'))}")]
    if subtype == "pipeline_step":
        step = f"step {plain(message.get('step'))}: {plain(message.get('message'), ARG_CHARS)}"
        return [prefix + paint(CYAN, step)]
    if subtype == "pipeline_end":
        status = message.get("status")
        style = {"completed": GREEN, "incomplete": YELLOW}.get(str(status), RED)
        minutes = message.get("elapsedMinutes")
        took = f"{minutes:.1f} min" if isinstance(minutes, int | float) else "? min"
        why = " (its cycles or time ran out)" if status == "incomplete" else ""
        text = (
            f"■ pipeline {plain(status)}{why}: {plain(message.get('cycles'))} cycles, {took}"
            f" (exit {plain(message.get('exitCode'))})"
        )
        return [prefix + paint(f"{BOLD};{style}", text)]
    return None


def _assistant(api_message: object) -> list[str] | None:
    content = api_message.get("content") if isinstance(api_message, dict) else None
    if isinstance(content, str):
        return text_lines(content)
    if not isinstance(content, list):
        return None
    lines: list[str] = []
    for block in content[:MAX_BLOCKS]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            lines += text_lines(block.get("text"))
        elif kind == "tool_use":
            lines.append(_tool_call(block.get("name"), block.get("input")))
        elif kind in ("thinking", "redacted_thinking"):
            first = first_lines(block.get("thinking"), 1)
            lines.append(paint(f"{DIM};3", f"✻ thinking {first[0] if first else '…'}"))
        else:
            lines.append(paint(DIM, _compact(block)))
    if len(content) > MAX_BLOCKS:
        lines.append(paint(DIM, f"… (+{len(content) - MAX_BLOCKS} blocks)"))
    return lines


def _tool_call(name: object, arguments: object) -> str:
    name = plain(name, 80)
    arguments = arguments if isinstance(arguments, dict) else {}
    if name == "TaskUpdate":
        status = arguments.get("status")
        argument = plain(arguments.get("taskId"), 40)
        if status is not None:
            argument += " → " + paint(TASK_COLOURS.get(str(status), DIM), plain(status, 40))
    elif name in KEY_ARGUMENTS:
        argument = one_line(arguments.get(KEY_ARGUMENTS[name]))
    elif arguments:
        key, value = next(iter(arguments.items()))
        argument = f"{plain(key, 40)}={one_line(value)}"
    else:
        argument = ""
    return f"{paint(f'{BOLD};{MAGENTA}', '▸ ' + name)} {argument}".rstrip()


def _user(api_message: object) -> list[str] | None:
    content = api_message.get("content") if isinstance(api_message, dict) else None
    if isinstance(content, str):
        return [paint(DIM, f"» {line}") for line in first_lines(content, RESULT_LINES)]
    if not isinstance(content, list):
        return None
    lines: list[str] = []
    for block in content[:MAX_BLOCKS]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            lines += _tool_result(block.get("content"), block.get("is_error") is True)
        elif kind == "text":
            lines += [paint(DIM, f"» {line}") for line in first_lines(block.get("text"), 3)]
        else:
            lines.append(paint(DIM, _compact(block)))
    return lines


def _tool_result(content: object, is_error: bool) -> list[str]:
    if isinstance(content, list):  # [{"type": "text", "text": ...}, {"type": "image"}, ...]
        texts = [
            str(part.get("text")) if part.get("type") == "text" else f"[{plain(part.get('type'))}]"
            for part in content[:MAX_BLOCKS]
            if isinstance(part, dict)
        ]
        content = "\n".join(texts)
    text = content if isinstance(content, str) else compact_json(content)
    first = first_lines(text, RESULT_LINES) or [""]
    more = text.rstrip("\n").count("\n") + 1 - len(first) if text else 0
    if more > 0:
        first[-1] += f" … (+{count_lines(more)})"
    mark, style = ("✗", RED) if is_error else ("⎿", DIM)
    return [paint(style, f"  {mark if index == 0 else ' '} {line}") for index, line in
            enumerate(first)]  # fmt: skip


def _result(message: dict[str, Any], cycle: int | None) -> list[str]:
    subtype = plain(message.get("subtype"), 60)
    failed = message.get("is_error") is True or subtype != "success"
    facts = [] if subtype == "success" else [subtype]
    turns = message.get("num_turns")
    if type(turns) is int:
        facts.append(f"{turns} turns")
    took = message.get("duration_ms")
    if isinstance(took, int | float) and not isinstance(took, bool) and took >= 0:
        facts.append(duration(took / 1000))
    cost = message.get("total_cost_usd")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        facts.append(f"${cost:.2f}")
    which = f"cycle {cycle}" if cycle is not None else "result"
    head = f"{'✗' if failed else '✓'} {which}" + (f": {', '.join(facts)}" if facts else "")
    lines = [paint(f"{BOLD};{RED if failed else GREEN}", head)]
    text = message.get("result")
    errors = message.get("errors")
    if isinstance(text, str) and text:
        lines += [paint(RED if failed else DIM, f"  {line}") for line in first_lines(text)]
    if isinstance(errors, list):
        for error in errors[:RESULT_LINES]:
            lines += [paint(RED, f"  {line}") for line in first_lines(str(error)[:10_000], 2)]
    return lines


def _system(subtype: object, message: dict[str, Any]) -> list[str]:
    if subtype == "init":
        model, cwd = plain(message.get("model"), 80), plain(message.get("cwd"), 300)
        version = message.get("claude_code_version")
        claude = f" (claude {plain(version, 40)})" if version is not None else ""
        return [paint(DIM, f"⚙ session: {model} in {cwd}{claude}")]
    rest = {key: value for key, value in message.items() if key not in _NOISE}
    return [paint(DIM, f"⚙ {plain(subtype, 60)} {compact_json(rest)}".rstrip())]


_NOISE = ("type", "subtype", "session_id", "uuid")


def _compact(message: object) -> str:
    """An unknown message: its type (and subtype) and a truncated compact JSON of the rest."""
    if not isinstance(message, dict):
        return paint(DIM, f"· {compact_json(message)}")
    name = plain(message.get("type"), 60)
    if "subtype" in message:
        name += "/" + plain(message.get("subtype"), 60)
    rest = {key: value for key, value in message.items() if key not in _NOISE}
    return paint(DIM, f"· {name} {compact_json(rest)}".rstrip())


def _not_a_message(problem: str, raw: bytes) -> str:
    shown = plain(raw[: JSON_CHARS * 4].decode("utf-8", errors="replace"), JSON_CHARS)
    return paint(YELLOW, f"⚠ {problem} ({len(raw)} bytes): {shown}") + "\n"
