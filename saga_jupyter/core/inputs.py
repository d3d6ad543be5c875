"""What clients send, read strictly: numbers as ASCII digits within 64 bits, JSON of bounded depth.

Every number a client gives (a query's ``offset``, a frame's ``offset``) and every JSON document
it sends (a launch body, a channel frame) goes through here, so that whatever it holds is
:class:`~saga_jupyter.core.errors.InvalidRequest` (a 400, an ``error`` frame), never an
exception nobody expected (``str.isdigit`` accepts ``'²'``, ``os.pread`` overflows past
64 bits, ``json.loads`` raises ``RecursionError`` on deep nesting and passes lone surrogates,
which no path or command line can encode).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .errors import InvalidRequest

# Offsets and lengths end up as off_t: signed 64 bits.
MAX_NUMBER = (1 << 63) - 1
# Nothing the server takes nests more than two levels; a few more leave room for extensions.
MAX_JSON_DEPTH = 32
# int() sees at most 19 digits, leading zeros dropped (it refuses over 4300, zeros counted).
# \Z: "$" would accept a trailing newline.
DIGITS = re.compile(r"\A0*(?P<digits>[0-9]{1,19})\Z")
SURROGATE = re.compile("[\ud800-\udfff]")


def parse_number(text: str, what: str) -> int:
    """A non-negative integer written in ASCII digits, at most ``MAX_NUMBER``.

    >>> parse_number("42", "offset")
    42
    >>> parse_number("²", "offset")
    Traceback (most recent call last):
    ...
    saga_jupyter.core.errors.InvalidRequest: offset must be ASCII digits from 0 to 2**63-1, not '²'
    """
    match = DIGITS.fullmatch(text)
    number = int(match["digits"]) if match else -1
    if not 0 <= number <= MAX_NUMBER:
        raise InvalidRequest(f"{what} must be ASCII digits from 0 to 2**63-1, not {text[:40]!r}")
    return number


def check_number(value: Any, what: str) -> int:
    """A JSON value that is an integer from 0 to ``MAX_NUMBER`` (not a bool, not a float)."""
    if type(value) is not int or not 0 <= value <= MAX_NUMBER:
        raise InvalidRequest(f"{what} must be an integer from 0 to 2**63-1")
    return value


def load_json(text: str | bytes, what: str) -> Any:
    """Parse a client's JSON document; ``InvalidRequest`` if invalid, too deep or not Unicode."""
    try:
        value = json.loads(text)
    except RecursionError:  # json's own limit (the interpreter's), far beyond ours
        raise InvalidRequest(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # UnicodeDecodeError included
        raise InvalidRequest(f"{what} is not valid JSON") from None
    if nesting(value) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    if any(SURROGATE.search(string) for string in strings(value)):
        # JSON's "\ud800" escapes can spell them; paths, tmux and logs cannot encode them.
        raise InvalidRequest(f"{what} holds a lone surrogate (U+D800-U+DFFF): not Unicode text")
    return value


def strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, object keys included."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def nesting(value: Any) -> int:
    """How deep arrays and objects nest in a parsed JSON value (a scalar: 0), level by level.

    >>> nesting([1, {"a": [2]}])
    3
    """
    depth, level = 0, [value]
    while level := [node for node in level if isinstance(node, (dict, list))]:
        depth += 1
        if depth > MAX_JSON_DEPTH:  # deep enough to refuse: no need to look further
            break
        level = [
            child for node in level for child in (node.values() if isinstance(node, dict) else node)
        ]
    return depth
