"""Run code in a real kernel of a user's server, through the hub's proxy.

The kernel is started by the user's own server (``POST api/kernels``), so it
has exactly that server's environment; code goes over the kernel's websocket
(jupyter_server's JSON message protocol) with the user's hub token.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.hub.harness import HubError, request


@dataclass
class Output:
    stdout: str = ""
    stderr: str = ""
    errors: list[str] = field(default_factory=list)  # "ename: evalue"
    results: list[str] = field(default_factory=list)  # text/plain of results and displays

    @property
    def text(self) -> str:
        return "\n".join([self.stdout, self.stderr, *self.errors, *self.results])


def _message(session: str, code: str) -> dict:
    return {
        "header": {"msg_id": uuid.uuid4().hex, "username": "hub-tests", "session": session,
                   "msg_type": "execute_request", "version": "5.3",
                   "date": dt.datetime.now(dt.timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }


class Kernel:
    """One kernel of a user's server; ``execute`` runs a cell and returns its output."""

    def __init__(self, server_url: str, token: str) -> None:
        self.server_url, self.token = server_url.rstrip("/"), token
        resp = request(f"{self.server_url}/api/kernels", "POST", token, {"name": "python3"})
        if resp.status != 201:
            raise HubError(f"starting a kernel: HTTP {resp.status} {resp.text}")
        self.id = resp.json()["id"]
        self.session = uuid.uuid4().hex

    async def _execute(self, code: str, timeout: float) -> Output:
        ws_url = self.server_url.replace("http://", "ws://", 1)
        conn = await websocket_connect(HTTPRequest(
            f"{ws_url}/api/kernels/{self.id}/channels?session_id={self.session}",
            headers={"Authorization": f"token {self.token}"}, request_timeout=timeout))
        try:
            msg = _message(self.session, code)
            await conn.write_message(json.dumps(msg))
            out, idle, replied = Output(), False, False
            while not (idle and replied):
                raw = await asyncio.wait_for(conn.read_message(), timeout)
                if raw is None:
                    raise HubError("the kernel's websocket closed")
                reply = json.loads(raw)
                if reply.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                    continue
                kind, content = reply["msg_type"], reply["content"]
                if kind == "stream":
                    if content["name"] == "stdout":
                        out.stdout += content["text"]
                    else:
                        out.stderr += content["text"]
                elif kind == "error":
                    out.errors.append(f"{content['ename']}: {content['evalue']}")
                elif kind in ("execute_result", "display_data"):
                    out.results.append(content["data"].get("text/plain", ""))
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
                elif kind == "execute_reply":
                    replied = True
            return out
        finally:
            conn.close()

    def execute(self, code: str, timeout: float = 120) -> Output:
        return asyncio.run(self._execute(code, timeout))

    def shutdown(self) -> None:
        request(f"{self.server_url}/api/kernels/{self.id}", "DELETE", self.token)
