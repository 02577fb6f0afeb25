"""Chaos benchmark: nothing lost, nothing doubled, at scale.

    .venv/bin/python -m bench.chaos --messages 2000 --conversations 200
    .venv/bin/python -m bench.chaos --database-url postgresql://…/empty_db --tag postgresql

Runs the API and worker processes against the fake Chatwoot with faults, duplicate webhooks, worker SIGKILLs
and a Redis restart (see tests/support/chaos.py, shared with tests/chaos/test_chaos.py), then prints the
counts and writes them to bench/results/chaos[-pacing-on][-<tag>]-<timestamp>.json and …-latest.json.
Exit status 1 when anything was lost or doubled.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path, where modules such as bench/queue.py would shadow the
# standard library's: put the repository root there instead (so `tests.support.chaos` imports too).
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402

from sqlalchemy import text  # noqa: E402
from tests.support.chaos import ChaosConfig, ChaosRun  # noqa: E402

from aibroker.adapters.db.engine import create_engine  # noqa: E402
from aibroker.adapters.db.migrate import migrate  # noqa: E402
from aibroker.config import Settings  # noqa: E402
from bench.common import RESULTS_DIR, header, load_average, write_results  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    defaults = ChaosConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--messages", type=int, default=defaults.messages, help="customer messages in all")
    add("--conversations", type=int, default=defaults.conversations, help="leads / conversations")
    add("--workers", type=int, default=defaults.workers, help="worker processes")
    add("--burst", type=int, default=defaults.burst, help="messages per burst")
    add("--rate", type=float, default=defaults.rate, help="customer messages per second")
    add("--duplicate-share", type=float, default=defaults.duplicate_share, help="webhooks delivered twice")
    add("--fault-share", type=float, default=defaults.fault_share, help="Chatwoot calls failing with 5xx/429")
    add("--timeout-share", type=float, default=defaults.timeout_share, help="Chatwoot calls answered too late")
    add("--timeout-s", type=float, default=defaults.timeout_s, help="how late (the client gives up at 10 s)")
    add("--kill-every", type=float, default=defaults.kill_every_s, help="seconds between worker SIGKILLs")
    add("--redis-restart-at", type=float, default=defaults.redis_restart_at,
        help="when to restart Redis, as a share of the sending phase (negative: never)")
    add("--redis-down", type=float, default=defaults.redis_down_s, help="seconds Redis stays down")
    add("--handoff-share", type=float, default=defaults.handoff_share, help="conversations asking for a human")
    add("--drain-timeout", type=float, default=defaults.drain_timeout_s, help="bound on the drain, seconds")
    add("--quiet", type=float, default=defaults.quiet_s, help="wait for late duplicates before counting")
    add("--seed", type=int, default=defaults.seed)
    add("--concurrency", type=int, default=defaults.worker_concurrency, help="WORKER_CONCURRENCY")
    add("--pacing", choices=["on", "off"], default="off",
        help="human-like delays (the API queues each reply delayed until due); off: replies at once, the most load")
    add("--database-url", default=None, help="an EMPTY database to use (default: a fresh SQLite file)")
    add("--work-dir", type=Path, default=None, help="logs and data (default: a temporary directory)")
    add("--results-dir", type=Path, default=RESULTS_DIR, help="default: bench/results")
    add("--tag", default="", help="suffix for the result file names (e.g. --tag postgresql)")
    return parser


async def _migrate(database_url: str) -> int:
    """Migrate; returns how many conversations the database already holds (the counts need an empty one)."""
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=database_url).sqlalchemy_url)  # type: ignore[call-arg]
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT COUNT(*) FROM conversations"))).scalar_one())
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = ChaosConfig(
        messages=args.messages, conversations=args.conversations, workers=args.workers, burst=args.burst,
        rate=args.rate, duplicate_share=args.duplicate_share, fault_share=args.fault_share,
        timeout_share=args.timeout_share, timeout_s=args.timeout_s, kill_every_s=args.kill_every,
        redis_restart_at=None if args.redis_restart_at < 0 else args.redis_restart_at,
        redis_down_s=args.redis_down, handoff_share=args.handoff_share, drain_timeout_s=args.drain_timeout,
        quiet_s=args.quiet, seed=args.seed, worker_concurrency=args.concurrency,
        settings={"PACING_ENABLED": args.pacing == "on"})
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="aibroker-chaos-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    database_url = args.database_url or f"sqlite:///{work_dir / 'aibroker.db'}"
    if (held := asyncio.run(_migrate(database_url))) > 0:
        print(f"chaos: the database already holds {held} conversation(s) (an earlier run's?): give an empty "
              "database, or a new --work-dir", file=sys.stderr)
        return 2
    print(f"chaos: work dir {work_dir} (logs in {work_dir / 'logs'})", flush=True)
    # The variant in the name, as bench.pipeline does: a pacing-on run never overwrites a pacing-off one, tag or not.
    name = "chaos-pacing-on" if args.pacing == "on" else "chaos"
    started = header(name, args)

    report = ChaosRun(config, database_url, work_dir, log=lambda line: print(line, flush=True)).run()
    result = {**started, "load_average_at_end": load_average(), "work_dir": str(work_dir),
              "problems": report.problems(), **report.as_dict()}
    path = write_results(args.results_dir, name, result, args.tag)
    print(report.summary())
    print(json.dumps({k: result[k] for k in ("customer_messages", "conversations", "answered", "handed_off",
                                             "lost", "duplicates", "replies", "greetings", "handoffs",
                                             "latency_ms", "chaos", "phases", "problems")}, indent=2))
    print(f"chaos: results in {path}")
    return 1 if report.problems() or not report.settled else 0


if __name__ == "__main__":
    sys.exit(main())
