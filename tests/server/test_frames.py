"""A logs:data frame's data escaped once from the bytes read: the same text as json.dumps'."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from saga_jupyter.server.frames import encode_frame, json_escape

# Every character JSON escapes, ANSI, carriage returns and characters of 2, 3 and 4 bytes.
SPECIAL = "".join(map(chr, range(0x20))) + '"\\\x7f\u2028é✓—😀'


@given(st.text(st.sampled_from(SPECIAL) | st.characters(codec="utf-8"), max_size=200))
def test_the_escaped_bytes_are_json_dumps_own(text: str) -> None:
    escaped = json_escape(text.encode())
    assert escaped == json.dumps(text, ensure_ascii=False)[1:-1].encode()
    assert json.loads(b'"' + escaped + b'"') == text


def test_a_frame_with_escaped_data_parses_to_the_frame() -> None:
    text = 'a "quoted" \\ line\r\n\x1b[31mred\x1b[0m ✓\t\x00'
    frame = {"type": "logs:data", "sessionName": "s", "data": text, "isInitial": True,
             "isComplete": False, "offset": 41, "reset": False}  # fmt: skip
    assert json.loads(encode_frame(frame, json_escape(text.encode()))) == frame
    assert json.loads(encode_frame(frame)) == frame
