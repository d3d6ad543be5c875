"""saga_jupyter/rest-api.yml stays true: its routes are served and responses match its schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from libtmux.server import Server

import saga_jupyter
from tests.helpers import saga_config, start_worker, wait_for

SPEC = yaml.safe_load((Path(saga_jupyter.__file__).parent / "rest-api.yml").read_text())


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=0.3)


def schema(name: str) -> dict[str, Any]:
    """A component schema as JSON Schema (OpenAPI 3.0 ``nullable`` and ``$ref`` resolved)."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return convert(SPEC["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
        node = {key: convert(value) for key, value in node.items()}
        if node.pop("nullable", False):
            node = {"anyOf": [node, {"type": "null"}]}
        return node

    return convert(SPEC["components"]["schemas"][name])  # type: ignore[no-any-return]


def test_every_route_is_described(saga_app: Any) -> None:
    described = {
        re.sub(r"\{name\}", "(?P<name>[^/]+)", path).replace("{id}", "(?P<story_id>[^/]+)")
        for path in SPEC["paths"]
    }
    # /sessions/{name} also catches malformed names holding "/", to answer them a JSON 404.
    described.remove("/api/saga/sessions/(?P<name>[^/]+)")
    described.add("/api/saga/sessions/(?P<name>.+)")
    served = {pattern for pattern, _ in saga_app.handlers if "channels" not in pattern}
    assert served == described


async def test_responses_match_their_schemas(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    start_worker(server, "saga__e__s__1", output_dir)
    (output_dir / "saga__e__s__2.out").write_text("done\n")
    await wait_for(lambda: len(saga_app.poller.sessions) == 2, timeout=3)
    sessions = json.loads((await jp_fetch("api", "saga", "sessions")).body)
    jsonschema.validate(sessions, {"type": "array", "items": schema("SessionInfo")})
    for name in ("saga__e__s__1", "saga__e__s__2"):
        detail = json.loads((await jp_fetch("api", "saga", "sessions", name)).body)
        jsonschema.validate(detail, schema("SessionDetail"))
    assert detail["windows"] == []  # the completed one's: no windows
    assert {session["name"] for session in sessions} == {"saga__e__s__1", "saga__e__s__2"}
    running = json.loads((await jp_fetch("api", "saga", "sessions", "saga__e__s__1")).body)
    assert running["windows"][0]["panes"]
    status = json.loads((await jp_fetch("api", "saga", "status")).body)
    jsonschema.validate(status, schema("Status"))
    required = set(SPEC["components"]["schemas"]["SessionInfo"]["required"])
    assert required == set(sessions[0])  # the contract's keys, no more, no fewer
