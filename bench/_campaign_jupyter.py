"""Deprecated: what ``bench/reliability_hostile.py`` still imports, on ``bench/_jupyter.py``.

The server starter and the raw http.client client live in ``bench/_jupyter.py``
(``start_jupyter``, ``JupyterServer.raw_client``). This module only keeps the old
names for reliability_hostile until it imports those directly; then delete it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bench import _jupyter


@dataclass
class Reply(_jupyter.Reply):
    """``_jupyter.Reply`` under its old name for the elapsed time, ``seconds``."""

    @property
    def seconds(self) -> float:
        return self.elapsed


class Jupyter:
    """A server (``start_jupyter``) and one raw client to it, as one object."""

    def __init__(self, swift_env: Mapping[str, str], container: str,
                 extra: tuple[str, ...] = ()) -> None:
        self.server = _jupyter.start_jupyter(swift_env, container, extra=extra)
        self.http = self.server.raw_client()
        self.container = container

    def request(self, *args: Any, **kwargs: Any) -> Reply:
        got = self.http.request(*args, **kwargs)
        return Reply(got.status, got.body, got.elapsed, got.headers)

    def alive(self) -> bool:
        return self.server.alive()

    def log_tail(self, chars: int = 3000) -> str:
        return self.server.log_tail(chars)

    def stop(self) -> None:
        self.http.close()
        self.server.stop()
