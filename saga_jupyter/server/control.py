"""Control routes for operators (only with ``allow_control``): stop a worker, attach a terminal."""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core.tmux import target
from .handlers import SagaHandler


class StopHandler(SagaHandler):
    """``POST /api/saga/sessions/{name}/stop``: kill exactly that tmux session."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        """Kill the session; it turns completed. 204, also when it had already ended."""
        self.require_control()
        self.session(name)
        if await asyncio.to_thread(self.poller.discovery.tmux.kill, name):
            self.log.info(
                "saga_jupyter: session stopped by %s: %s", self.current_user.username, name
            )
        await self.poller.request_scan()
        self.set_status(204)
        self.finish()


class ConnectHandler(SagaHandler):
    """``POST /api/saga/sessions/{name}/connect``: a Jupyter terminal attached to the session."""

    @web.authenticated
    @authorized
    def post(self, name: str) -> None:
        """Open a terminal running ``tmux attach`` on the session; answer its name."""
        self.require_control()
        if self.session(name).status != "running":
            raise web.HTTPError(409, f"{name} is not running", reason="Not running")
        terminals: Any = self.settings.get("terminal_manager")
        if terminals is None:
            raise web.HTTPError(503, "Jupyter terminals are disabled", reason="No terminals")
        attach = self.poller.discovery.tmux.command("attach-session", "-t", target(name))
        # Unset TMUX: a server started inside tmux must not nest the attach into that client.
        model = terminals.create(shell_command=["env", "-u", "TMUX", *attach])
        self.write_json({"terminal": model["name"]})
