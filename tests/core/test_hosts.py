"""The pure part of many hosts: the remotes' configuration, token files, one merged list."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from saga_jupyter.core.errors import InvalidRequest
from saga_jupyter.core.hosts import attention, matches, merge, parse_remotes, read_token, stamped


def remote(**overrides: Any) -> dict[str, Any]:
    """A valid ``remotes`` entry with ``overrides``."""
    return {"name": "gpu-box", "url": "https://gpu.example:8888", "token_file": "/t", **overrides}


def test_a_valid_remote_gets_a_base_url_ending_in_a_slash() -> None:
    [spec] = parse_remotes([remote()])
    assert (spec.name, spec.url, spec.token_file) == ("gpu-box", "https://gpu.example:8888/", "/t")
    for loopback in ("http://127.0.0.1:8888/", "http://localhost:9/x/", "http://[::1]:1/"):
        assert parse_remotes([remote(url=loopback)])[0].url == loopback


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (remote(url="http://gpu.example:8888/"), "loopback only"),
        (remote(url="ftp://127.0.0.1/"), "http(s) URL"),
        (remote(url="https://127.0.0.1/?token=x"), "without query"),
        (remote(url="https://me:pw@127.0.0.1/"), "without query"),
        (remote(name="GPU"), "lower-case"),
        (remote(name="a__b"), "lower-case"),
        (remote(name="x" * 65), "lower-case"),
        (remote(name=None), "lower-case"),
        (remote(token_file=""), "token_file"),
        (remote(port=1), "unknown keys: port"),
        ("gpu-box", "a dict"),
    ],
)
def test_a_wrong_remote_is_refused_with_why(entry: Any, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_remotes([entry])


def test_names_are_unique() -> None:
    with pytest.raises(InvalidRequest, match="used twice"):
        parse_remotes([remote(), remote(url="https://other/")])
    with pytest.raises(InvalidRequest, match="a list"):
        parse_remotes("gpu-box")


def test_a_token_is_read_from_a_regular_file_only(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc123\n")
    assert read_token(str(token)) == "abc123"
    link = tmp_path / "link"
    link.symlink_to(token)
    with pytest.raises(FileNotFoundError):
        read_token(str(link))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileNotFoundError):
        read_token(str(fifo))  # never blocks on a FIFO
    token.write_text("x" * 5000)
    with pytest.raises(OSError, match="too large"):
        read_token(str(token))
    token.write_text("two words\n")
    with pytest.raises(ValueError, match="does not hold a token"):
        read_token(str(token))


def session(name: str, start: str | None, host: str | None, **extra: Any) -> dict[str, Any]:
    """A SessionInfo dict with what merging looks at."""
    return {"name": name, "startTime": start, "host": host, "status": "running", **extra}


def test_lists_merge_newest_first_ties_by_name_no_start_last() -> None:
    local = [session("saga__a__b__2", "2026-12-07T10:00:00Z", None)]
    remote_sessions = stamped(
        [
            {"name": "saga__a__b__1", "startTime": "2026-12-07T10:00:00Z"},
            {"name": "saga__z__z__9", "startTime": None},
            {"name": "saga__c__d__3", "startTime": "2026-12-07T11:00:00Z"},
            "not a session",
        ],
        "gpu",
        stale=True,
    )
    merged = merge([local, remote_sessions])
    assert [(s["name"], s["host"]) for s in merged] == [
        ("saga__c__d__3", "gpu"),
        ("saga__a__b__1", "gpu"),
        ("saga__a__b__2", None),
        ("saga__z__z__9", "gpu"),
    ]
    assert all(s["stale"] for s in remote_sessions)


def test_filters_and_attention_on_dicts() -> None:
    blocked = session("saga__a__b__1", None, "gpu", worker={"outcome": None, "blocker": "x"})
    failed = session("saga__a__b__2", None, "gpu", status="completed", worker={"outcome": "ERROR"})
    plain = session("saga__a__b__3", None, None, status="completed", worker=None)
    assert matches(failed, {"outcome": "ERROR", "status": "completed", "epicSlug": None})
    assert not matches(plain, {"outcome": "ERROR"})
    assert sorted([plain, failed, blocked], key=attention) == [blocked, failed, plain]
