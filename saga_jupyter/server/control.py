"""Control routes for operators (only with ``allow_control``): stop a worker, attach a terminal."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import SagaHandler


class StopHandler(SagaHandler):
    """``POST /api/saga/sessions/{name}/stop``: kill exactly that tmux session."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        """Kill the session; it turns completed. 204, also when it had already ended."""
        if await self.passed_through():
            return
        await self.manager.stop(name, self.current_user.username)
        self.set_status(204)
        self.finish()


class ConnectHandler(SagaHandler):
    """``POST /api/saga/sessions/{name}/connect``: a Jupyter terminal attached to the session."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        """Open a terminal running ``tmux attach`` on the session; answer its name.

        With ``?host=``, the terminal opens on that remote server (its name is the remote's).
        """
        if await self.passed_through():
            return
        command = self.manager.attach_command(name)
        terminals: Any = self.settings.get("terminal_manager")
        if terminals is None:
            raise web.HTTPError(503, "Jupyter terminals are disabled", reason="No terminals")
        model = terminals.create(shell_command=command)
        self.write_json({"terminal": model["name"]})
