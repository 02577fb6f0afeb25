"""Real servers for tests: an ASGI app under uvicorn in a background thread, and worker OS processes."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from aibroker.api.server import GracefulServer, server_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any, *, ready_path: str | None = None, timeout_s: float = 20.0) -> Iterator[str]:
    """Run `app` on 127.0.0.1:<free port> until the block ends; yields the base URL."""
    port = free_port()
    server = GracefulServer(server_config(app, "127.0.0.1", port))  # as `aibroker serve` runs it
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    try:
        yield base_url
    finally:
        server.handle_exit(signal.SIGTERM, None)  # as a SIGTERM would: open event streams end too
        thread.join(timeout=15)


class WorkerProcess:
    """`aibroker worker` as its own OS process, configured only through the environment."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self._env = {**os.environ, **env}
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self._log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "aibroker.cli", "worker"], env=self._env,
                                        stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a machine dies."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def terminate(self, timeout_s: float = 30.0) -> int | None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode if self.process else None

    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""


def terminate_all(workers: Sequence[WorkerProcess], timeout_s: float = 30.0) -> list[int | None]:
    """`terminate` each worker, all at once: a worker takes seconds to exit after SIGTERM even when idle, and one
    after the other those seconds added up. Returns their exit statuses, in order."""
    if len(workers) <= 1:
        return [worker.terminate(timeout_s) for worker in workers]
    with ThreadPoolExecutor(len(workers)) as pool:
        return list(pool.map(lambda worker: worker.terminate(timeout_s), workers))


def wait_for(predicate: Any, *, timeout_s: float = 15.0, interval_s: float = 0.1, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last value: {last!r})")


async def until(predicate: Any, *, timeout_s: float = 20.0, interval_s: float = 0.05, what: str = "condition") -> Any:
    """`wait_for` inside an event loop (the worker under test runs in it): `predicate` may be plain or async."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last value: {last!r})")


def get_json(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    response.raise_for_status()
    return response.json()
