from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

from cdn_edge.app import server_options


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class LoopbackServer:
    """A real uvicorn server on 127.0.0.1 in a thread; `url` is where it listens. A cache node is served
    as in production (cdn_edge.app.server_options); `options` override uvicorn.Config settings."""

    def __init__(self, app: object, port: int = 0, **options: Any) -> None:
        if isinstance(app, Starlette) and hasattr(app.state, "hits"):
            options = {**server_options(app), **options}
        settings: dict[str, Any] = {
            "host": "127.0.0.1", "port": port, "log_level": "warning", "lifespan": "on", "ws": "none",
            "loop": "asyncio", "timeout_keep_alive": 30, "timeout_graceful_shutdown": 2, "backlog": 2048,
            "limit_concurrency": None,
        }  # fmt: skip
        config = uvicorn.Config(app, **{**settings, **options})  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.server.run()  # on the event loop of the `loop` setting

    def start(self) -> LoopbackServer:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("server failed to start")
            threading.Event().wait(0.01)
        return self

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def serving(app: object, port: int = 0, **options: Any) -> Iterator[LoopbackServer]:
    server = LoopbackServer(app, port, **options).start()
    try:
        yield server
    finally:
        server.stop()
