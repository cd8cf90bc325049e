"""Serving a simulated legacy HTTP system on a loopback port, in a background thread.

The social-insurance and real-estate simulators are real HTTP services: their adapters talk to
them over TCP with real timeouts, exactly as to the department's server on its private network.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import uvicorn
from starlette.responses import StreamingResponse

TRICKLE_PIECES = 10


class ThreadedServer:
    """An ASGI app served by uvicorn on ``127.0.0.1`` (an ephemeral port unless one is given)."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"legacy-{self.port}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"legacy HTTP server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def trickled(
    body: bytes, seconds: float, *, media_type: str, stop: Callable[[], bool] = lambda: False
) -> StreamingResponse:
    """The answer a slow legacy server gives: headers at once, then ``body`` in pieces spread over
    ``seconds`` (the rest at once when ``stop()`` turns true: the fault healed, the system closing).

    Each piece arrives well within a per-read socket timeout, so only a whole-answer deadline
    catches it, as with a real overloaded server or a congested private line."""

    async def pieces() -> AsyncIterator[bytes]:
        size = max(1, -(-len(body) // TRICKLE_PIECES))
        for start in range(0, len(body), size):
            if not stop():
                await asyncio.sleep(seconds / TRICKLE_PIECES)
            yield body[start : start + size]

    return StreamingResponse(pieces(), media_type=media_type)
