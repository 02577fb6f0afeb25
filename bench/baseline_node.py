"""The old design's side of `bench.compare`: the Node worker of `bench/baseline/`, its ingress and its sink.

- `install()`: `npm ci` in bench/baseline when its `node_modules` is missing (a fresh clone); None when `node`
  or `npm` is missing, so the caller can say so and skip the baseline.
- `NodeWorker`: `node bench/baseline/worker.js` as its own OS process, configured through the environment.
- `ReplySink`: the local HTTP endpoint the worker POSTs replies to; it stamps each reply's receipt time.
- `BaselineQueue`: the original ingress (webhook → queue): one BullMQ job per customer message, added with the
  Python `bullmq.Queue`, which writes the same Redis layout BullMQ for Node reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bullmq import Queue

from aibroker.adapters.queue.redis_options import connection_options
from bench.system import free_port

BASELINE_DIR = Path(__file__).resolve().parent / "baseline"
BASELINE_QUEUE = "baseline"


def install() -> str | None:
    """The `node` binary, after installing the worker's packages if needed; None (with the reason printed)
    when Node or npm is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        print(f"baseline skipped: {'node' if not node else 'npm'} is not on PATH (bench/baseline needs Node >= 20)")
        return None
    if not (BASELINE_DIR / "node_modules" / "bullmq").is_dir():
        # better-sqlite3 may compile from source where no prebuilt binary downloads: minutes on 2 cores.
        print("installing the baseline's Node packages (npm ci in bench/baseline; can take a few minutes) ...",
              flush=True)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BASELINE_DIR, check=True)
    return node


class NodeWorker:
    """`node worker.js`: ONE BullMQ-for-Node worker process, as the seeds ran it."""

    def __init__(self, node: str, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.process = subprocess.Popen([node, str(BASELINE_DIR / "worker.js")], env={**os.environ, **env},
                                        stdout=log_path.open("ab"), stderr=subprocess.STDOUT, cwd=BASELINE_DIR)
        deadline = time.monotonic() + 30
        while "baseline worker ready" not in self.log_tail():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the baseline worker did not start:\n" + self.log_tail())
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def worker_env(redis_url: str, prefix: str, database_url: str, sink_url: str, concurrency: int) -> dict[str, str]:
    """The environment of worker.js; the database URL in the plain form Node's drivers take."""
    if database_url.startswith("sqlite"):
        database_url = "sqlite:///" + database_url.split(":///", 1)[1]
    else:
        database_url = "postgresql://" + database_url.split("://", 1)[1]
    return {"REDIS_URL": redis_url, "QUEUE_PREFIX": prefix, "QUEUE_NAME": BASELINE_QUEUE,
            "DATABASE_URL": database_url, "SINK_URL": sink_url, "CONCURRENCY": str(concurrency)}


class ReplySink:
    """A minimal HTTP/1.1 server (keep-alive, POST only) in the driver's event loop: `received[job_id]` is the
    wall-clock time a reply's body had fully arrived."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.bodies = 0
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> ReplySink:
        port = free_port()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.url = f"http://127.0.0.1:{port}/replies"
        return self

    async def close(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                at = time.time()
                self.bodies += 1
                job_id = str(json.loads(body).get("jobId"))
                self.received.setdefault(job_id, at)  # a second POST for one job would be a duplicate
                writer.write(b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class BaselineQueue:
    """The baseline's ingress: a customer message becomes a job on its own BullMQ queue."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.queue = Queue(BASELINE_QUEUE, {"connection": connection_options(redis_url), "prefix": prefix})
        self.prefix = prefix

    async def add(self, job_id: str, conversation_id: int, content: str) -> None:
        data: dict[str, Any] = {"conversationId": conversation_id, "content": content}
        await self.queue.add("message", data, {"jobId": job_id, "removeOnComplete": 1000, "removeOnFail": 1000})

    async def drain(self) -> None:
        """Drop the jobs still waiting (the ones in a worker slot finish)."""
        await self.queue.drain()

    async def close(self) -> None:
        await self.queue.close()
