"""The JSON messages a today's-SAGA worker writes, built with their real shapes.

SAGA's own ``saga_worker`` messages (pipeline and cycle boundaries) and the Agent SDK's
messages of one headless run (``system`` init, ``assistant`` blocks, ``user`` tool results,
``result``), as SAGA-V4.md §2.2 and §2.3 give them. Values come from ``rng``: a seed repeats them.
"""

from __future__ import annotations

import random
import string
import uuid
from datetime import datetime, timezone
from typing import Any

Message = dict[str, Any]

MODEL = "claude-opus-4-6"
CLAUDE_CODE_VERSION = "2.1.37"
TOOLS = [
    "Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "NotebookEdit", "WebFetch",
    "WebSearch", "TaskCreate", "TaskGet", "TaskUpdate", "TaskList",
]  # fmt: skip
ID_ALPHABET = string.ascii_letters + string.digits


def timestamp() -> str:
    """Now as JavaScript's ``new Date().toISOString()`` writes it (milliseconds, ``Z``)."""
    now = datetime.now(timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def saga_worker(subtype: str, **fields: Any) -> Message:
    """One of SAGA's own messages (``pipeline_start``, ``cycle_end``, ...)."""
    return {"type": "saga_worker", "subtype": subtype, "timestamp": timestamp(), **fields}


class HeadlessRun:
    """The Agent SDK messages of one headless run (a cycle), turn by turn."""

    def __init__(self, rng: random.Random, cwd: str) -> None:
        self.rng = rng
        self.cwd = cwd
        self.session_id = self.uuid()
        self.started = timestamp()
        self.turns = 0
        self.message_id = ""
        self.fresh = True  # the next assistant block starts a new API message (a turn)
        self.context = rng.randint(14_000, 22_000)  # tokens read from the cache, growing
        self.output_tokens = 0
        self.usage: dict[str, Any] = {}  # the current turn's, on each of its blocks

    def uuid(self) -> str:
        """A random UUID from ``rng`` (repeatable)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def api_id(self, prefix: str) -> str:
        """An Anthropic API id: ``msg_01…`` or ``toolu_01…``."""
        return prefix + "01" + "".join(self.rng.choice(ID_ALPHABET) for _ in range(22))

    def init(self) -> Message:
        """``system`` ``init``: the run starts in the story's worktree."""
        return {
            "type": "system", "subtype": "init", "cwd": self.cwd, "session_id": self.session_id,
            "tools": TOOLS, "mcp_servers": [], "model": MODEL,
            "permissionMode": "bypassPermissions", "slash_commands": ["compact", "context"],
            "apiKeySource": "none", "claude_code_version": CLAUDE_CODE_VERSION,
            "output_style": "default", "agents": ["general-purpose"], "skills": [],
            "plugins": [], "uuid": self.uuid(),
        }  # fmt: skip

    def assistant(self, block: dict[str, Any]) -> Message:
        """One ``assistant`` line: the CLI writes one per block, those of a turn share its id."""
        if self.fresh:  # after a tool's result, the model is called again
            self.fresh = False
            self.turns += 1
            self.message_id = self.api_id("msg_")
            self.context += self.rng.randint(300, 2_500)
            output = self.rng.randint(20, 600)
            self.output_tokens += output
            self.usage = {
                "input_tokens": self.rng.randint(1, 8),
                "cache_creation_input_tokens": self.rng.randint(200, 2_000),
                "cache_read_input_tokens": self.context,
                "output_tokens": output,
                "service_tier": "standard",
            }
        message = {
            "id": self.message_id, "type": "message", "role": "assistant", "model": MODEL,
            "content": [block], "stop_reason": None, "stop_sequence": None, "usage": self.usage,
        }  # fmt: skip
        return self.wrap("assistant", message)

    def text(self, text: str) -> Message:
        """An ``assistant`` text block."""
        return self.assistant({"type": "text", "text": text})

    def tool_use(self, name: str, arguments: dict[str, Any]) -> tuple[Message, str]:
        """An ``assistant`` ``tool_use`` block, and its id for the result."""
        tool_id = self.api_id("toolu_")
        block = {"type": "tool_use", "id": tool_id, "name": name, "input": arguments}
        return self.assistant(block), tool_id

    def tool_result(self, tool_id: str, content: str, is_error: bool = False) -> Message:
        """A ``user`` message carrying a tool's result (``is_error`` only when it failed)."""
        block: dict[str, Any] = {"tool_use_id": tool_id, "type": "tool_result", "content": content}
        if is_error:
            block["is_error"] = True
        self.fresh = True
        return self.wrap("user", {"role": "user", "content": [block]})

    def wrap(self, kind: str, message: dict[str, Any]) -> Message:
        """The SDK's envelope around an API message."""
        return {
            "type": kind, "message": message, "parent_tool_use_id": None,
            "session_id": self.session_id, "uuid": self.uuid(),
        }  # fmt: skip

    def result(self, text: str, duration_ms: int) -> Message:
        """The run's ``result`` (``success``), with its turns, time and cost."""
        cost = round(self.turns * self.rng.uniform(0.06, 0.14) + 0.02, 6)
        usage = {
            "input_tokens": self.turns * self.rng.randint(3, 9),
            "cache_creation_input_tokens": self.rng.randint(8_000, 30_000),
            "cache_read_input_tokens": self.context * max(1, self.turns) // 2,
            "output_tokens": self.output_tokens,
        }
        model_usage = {
            MODEL: {
                "inputTokens": usage["input_tokens"], "outputTokens": self.output_tokens,
                "cacheReadInputTokens": usage["cache_read_input_tokens"],
                "cacheCreationInputTokens": usage["cache_creation_input_tokens"],
                "webSearchRequests": 0, "costUSD": cost, "contextWindow": 200_000,
            }
        }  # fmt: skip
        return {
            "type": "result", "subtype": "success", "is_error": False,
            "duration_ms": duration_ms, "duration_api_ms": int(duration_ms * 0.83),
            "num_turns": self.turns, "result": text, "session_id": self.session_id,
            "total_cost_usd": cost, "usage": usage, "modelUsage": model_usage,
            "permission_denials": [], "uuid": self.uuid(),
        }  # fmt: skip
