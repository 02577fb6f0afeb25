"""The chaos harness: "nothing lost, nothing doubled" with the real processes under fire.

Shared by `tests/chaos/test_chaos.py` (small, bounded, asserts) and `bench/chaos.py` (long, configurable,
writes JSON). One run:

1. A private `redis-server` with persistence off (`PrivateRedis`), the fake Chatwoot as the inbox (signed
   webhooks), the API as its own process (`aibroker serve`) and `workers` worker processes (`aibroker worker`).
2. `conversations` leads through `POST /api/leads` (each creates a Chatwoot conversation and a greeting job).
3. The chaos, while `messages` customer messages are sent through the fake's `customer_says` in bursts of
   `burst`, at `rate` messages per second across all conversations:
   - the fake fails `fault_share` of our API calls (5xx / 429) and answers `timeout_share` of them only after
     `timeout_s` (having done the work: by then our client has given up, an ambiguous failure);
   - `duplicate_share` of all webhooks are delivered a second time, 0–3 s later;
   - every `kill_every_s` a random worker is SIGKILLed and a replacement started;
   - once, at `redis_restart_at` of the sending phase, Redis is SIGKILLed and restarted empty.
4. The chaos stops (faults off, workers left alone); the harness waits until every conversation has settled
   (bounded by `drain_timeout_s`), waits `quiet_s` more for late duplicates, and counts (`chaos_count.py`).
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from aibroker.config import Settings
from tests.fakes.fake_chatwoot import Delivery, FakeChatwoot, running_fake_chatwoot
from tests.support.app import LEAD, worker_env
from tests.support.chaos_count import ChaosReport, count, unsettled
from tests.support.chaos_processes import ApiProcess, Database, PrivateRedis, WorkerPool
from tests.support.servers import free_port, wait_for

WEBHOOK_SECRET = "chaos-webhook-secret"
CHAOS_ADMIN_TOKEN = "chaos-admin-token"  # the harness reads worker heartbeats (admin only)
HANDOFF_REQUEST = "Could I speak to a human please?"
QUESTIONS = (
    "Hi, I'm looking at a 4-room HDB resale flat in Tampines",
    "What is the maximum loan I can get on a $550k flat?",
    "How does TDSR work for a couple?",
    "My monthly income is about $7,500",
    "Is a fixed or floating rate better right now?",
    "How much cash downpayment do I need for a condo?",
    "What is the buyer's stamp duty on $800,000?",
    "Can I use my CPF for the downpayment?",
    "How long can the loan tenure be if I'm 35?",
    "What would the monthly instalment be for a $400k loan over 25 years?",
    "Do banks charge a lock-in penalty?",
    "What documents do I need to apply?",
    "How is MSR different from TDSR?",
    "My wife earns $5,000 a month too",
    "We are both Singapore citizens, first property",
    "How long does approval usually take?",
    "Is an HDB loan cheaper than a bank loan?",
    "What does LTV mean?",
    "Can I include my bonus in the income calculation?",
    "We have a car loan of $600 a month",
    "Is there a valuation fee?",
    "Thanks, that helps a lot",
    "What about legal fees for the purchase?",
    "When should I get an in-principle approval?",
    "Our budget is around $650k",
    "Is it better to pay more cash upfront?",
)


@dataclass
class ChaosConfig:
    messages: int = 2000
    conversations: int = 200
    workers: int = 3
    burst: int = 3
    rate: float = 15.0  # customer messages per second during the sending phase
    duplicate_share: float = 0.3
    fault_share: float = 0.2
    fault_statuses: tuple[int, ...] = (500, 502, 503, 429)
    timeout_share: float = 0.05
    timeout_s: float = 10.5  # longer than the Chatwoot adapter's client timeout (CHATWOOT_TIMEOUT_S, 10 s)
    kill_every_s: float = 4.0
    redis_restart_at: float | None = 0.5  # share of the sending phase; None: no Redis restart
    redis_down_s: float = 1.0
    handoff_share: float = 0.05  # conversations whose customer asks for a human half-way through
    drain_timeout_s: float = 300.0
    quiet_s: float = 4.0
    seed: int = 7
    worker_concurrency: int = 100
    # Why 5 attempts: an attempt fails when one of its ~10 Chatwoot calls exhausts the adapter's own retries
    # (4 tries: ~0.4 % of calls at a 25 % fault rate), or when Redis restarts under it (lost lock: it must not
    # send). Waits on an open circuit or a long Retry-After are delays and cost no attempt. With 200 ms
    # exponential backoff, 5 attempts span ~3 s: a few unlucky attempts in a row still end in an answer rather
    # than in the final-failure path (apology + handoff), which this test would count as a handoff.
    job_attempts: int = 5
    settings: dict[str, Any] = field(default_factory=dict)  # extra environment-style settings


def chaos_settings(config: ChaosConfig, database_url: str, redis_url: str, work_dir: Path, chatwoot_url: str,
                   prefix: str) -> Settings:
    values: dict[str, Any] = {
        "AIBROKER_DATA_DIR": str(work_dir / "var"), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "QUEUE_PREFIX": prefix, "QUEUE_NAME": "aibroker", "HOST": "127.0.0.1", "PORT": free_port(),
        "PACING_ENABLED": False, "STALLED_INTERVAL_MS": 1000, "LOCK_DURATION_MS": 3000, "JOB_BACKOFF_MS": 200,
        "JOB_ATTEMPTS": config.job_attempts, "WORKER_CONCURRENCY": config.worker_concurrency,
        "CHATWOOT_BASE_URL": chatwoot_url, "CHATWOOT_ACCOUNT_ID": 1, "CHATWOOT_INBOX_ID": 1,
        "CHATWOOT_API_TOKEN": "user-token", "CHATWOOT_BOT_TOKEN": "bot-token",
        "CHATWOOT_WEBHOOK_SECRET": WEBHOOK_SECRET, "LOG_LEVEL": "INFO", "AIBROKER_ADMIN_TOKEN": CHAOS_ADMIN_TOKEN,
        "RATE_LIMITS_ENABLED": False,  # hundreds of leads from 127.0.0.1
    }
    values.update(config.settings)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Duplicator:
    """Delivers a random share of all webhooks a second time (same delivery id, fresh signature), 0–3 s later,
    as Chatwoot does when it times out on a delivery that we actually received."""

    def __init__(self, chatwoot: FakeChatwoot, share: float, rng: random.Random) -> None:
        self._chatwoot, self._share, self._rng = chatwoot, share, rng
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-duplicator", daemon=True)
        self.redelivered = 0
        self.late_at_stop = 0  # webhooks of the sending phase not yet delivered when it ended
        self.caught_up_s = 0.0  # how long their delivery then took

    def start(self) -> Duplicator:
        self._thread.start()
        return self

    def stop(self, catch_up_s: float = 180.0) -> None:
        """Stop choosing once every webhook queued so far has been delivered, so each had its chance to be chosen;
        the redeliveries already chosen still go out (on time).

        On a busy machine the fake's single webhook sender falls behind the sending phase (each delivery waits for
        the API). Stopping at once left the last part of the customer messages' webhooks undelivered, never
        candidates, and `webhooks_redelivered` fell below the share the chaos test asserts in about half the runs."""
        self.late_at_stop = self._chatwoot.pending_webhooks()
        target = self._first_deliveries() + self.late_at_stop
        deadline = time.monotonic() + catch_up_s
        while self._first_deliveries() < target and time.monotonic() < deadline:
            time.sleep(0.05)
        self.caught_up_s = catch_up_s - max(0.0, deadline - time.monotonic())
        self._stop.set()
        self._thread.join(timeout=30)

    def _first_deliveries(self) -> int:
        return len({delivery.delivery_id for delivery in self._chatwoot.webhooks})

    def _run(self) -> None:
        decided: set[str] = set()
        due: list[tuple[float, int, Delivery]] = []
        order = itertools.count()
        seen = 0
        while not self._stop.is_set() or due:
            deliveries = self._chatwoot.webhooks if not self._stop.is_set() else []
            for delivery in deliveries[seen:]:
                if delivery.delivery_id in decided:
                    continue
                decided.add(delivery.delivery_id)
                if self._rng.random() < self._share:
                    heapq.heappush(due, (time.monotonic() + self._rng.uniform(0, 3), next(order), delivery))
            seen = max(seen, len(deliveries))
            while due and due[0][0] <= time.monotonic():
                self._chatwoot.redeliver(heapq.heappop(due)[2])
                self.redelivered += 1
            time.sleep(0.02)


class Killer:
    """SIGKILLs a random worker every `every_s` (a replacement starts at once); restarts Redis once."""

    def __init__(self, pool: WorkerPool, redis: PrivateRedis, every_s: float, restart_redis_after_s: float | None,
                 redis_down_s: float) -> None:
        self._pool, self._redis, self._every_s = pool, redis, every_s
        self._restart_after_s, self._down_s = restart_redis_after_s, redis_down_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-killer", daemon=True)
        self.events: list[tuple[float, str]] = []

    def start(self) -> Killer:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        next_kill = self._started + self._every_s
        restart_at = None if self._restart_after_s is None else self._started + self._restart_after_s
        while not self._stop.is_set():
            now = time.monotonic()
            if restart_at is not None and now >= restart_at:
                restart_at = None
                self.events.append((now - self._started, "redis restart"))
                self._redis.restart(self._down_s)
            if now >= next_kill:
                next_kill += self._every_s
                self.events.append((now - self._started, "worker SIGKILL"))
                self._pool.kill_one()
            self._stop.wait(0.05)


def _lead(index: int, run_id: str) -> dict[str, Any]:
    return {**LEAD, "name": f"Lead{index} Tan", "email": f"lead{index}.{run_id}@example.com",
            "phone": f"+659{index:07d}", "sessionId": f"chaos-{run_id}-{index}"}


def _scripts(config: ChaosConfig, conversations: list[int], rng: random.Random) -> dict[int, list[str]]:
    """What each conversation's customer will say: distinct questions (a repeat would look like 'no progress'),
    and for `handoff_share` of them a request for a human half-way through."""
    bursts = -(-config.messages // config.burst)
    per_conversation = -(-bursts // len(conversations)) * config.burst
    asking = set(rng.sample(conversations, round(config.handoff_share * len(conversations))))
    scripts: dict[int, list[str]] = {}
    for conversation in conversations:
        pool = list(QUESTIONS)
        rng.shuffle(pool)
        lines = [pool[i % len(pool)] for i in range(per_conversation)]
        if conversation in asking:
            lines[len(lines) // 2 // config.burst * config.burst] = HANDOFF_REQUEST  # a burst's first message
        scripts[conversation] = lines
    return scripts


class ChaosRun:
    def __init__(self, config: ChaosConfig, database_url: str, work_dir: Path, *, log: Any = print) -> None:
        self.config = config
        self.database_url = database_url
        self.work_dir = work_dir
        self.log = log
        self.rng = random.Random(config.seed)
        self.phases: dict[str, float] = {}
        self.sent: list[tuple[int, int]] = []  # (inbox conversation id, inbox message id) in sending order
        self.lead_failures = 0

    def run(self) -> ChaosReport:
        config = self.config
        (self.work_dir / "logs").mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with ExitStack() as stack:
            redis = PrivateRedis(self.work_dir).start()
            stack.callback(redis.stop)
            chatwoot = stack.enter_context(running_fake_chatwoot(secret=WEBHOOK_SECRET))
            settings = chaos_settings(config, self.database_url, redis.url, self.work_dir, chatwoot.base_url,
                                      f"chaos{uuid.uuid4().hex[:8]}")
            env = worker_env(settings)
            pool = WorkerPool(env, self.work_dir / "logs", config.workers, self.rng).start()  # boot meanwhile
            stack.callback(pool.stop)
            api = ApiProcess(env, self.work_dir / "logs" / "api.log").start()
            stack.callback(api.stop)
            chatwoot.webhook_url = f"{api.base_url}/api/webhooks/chatwoot"
            with httpx.Client(base_url=api.base_url, timeout=5) as status:
                wait_for(lambda: _workers_up(status) >= config.workers, timeout_s=60, what="worker heartbeats")
            database = Database(settings.sqlalchemy_url)
            stack.callback(database.close)
            self.phases["start_s"] = time.monotonic() - started

            mark = time.monotonic()
            conversations = self._leads(api.base_url, database)
            wait_for(lambda: unsettled(database, []) == 0, timeout_s=120, interval_s=0.2, what="greetings")
            self.phases["leads_s"] = time.monotonic() - mark
            self.log(f"chaos: {len(conversations)} conversations greeted in {self.phases['leads_s']:.1f} s")

            mark = time.monotonic()
            requests_before = len(chatwoot.requests())
            send_s = config.messages / config.rate
            chatwoot.faults.random_faults(config.fault_share, statuses=config.fault_statuses, seed=config.seed)
            chatwoot.faults.random_timeouts(config.timeout_share, seconds=config.timeout_s, process=True,
                                            seed=config.seed + 1)
            duplicator = Duplicator(chatwoot, config.duplicate_share, random.Random(config.seed + 2)).start()
            killer = Killer(pool, redis, config.kill_every_s,
                            None if config.redis_restart_at is None else config.redis_restart_at * send_s,
                            config.redis_down_s).start()
            try:
                self._send(chatwoot, conversations)
            finally:
                killer.stop()
                duplicator.stop()
                chatwoot.faults.clear()
            self.chaos_requests = len(chatwoot.requests()) - requests_before
            self.phases["chaos_s"] = time.monotonic() - mark
            self.log(f"chaos: sent {len(self.sent)} messages in {self.phases['chaos_s']:.1f} s; "
                     f"{pool.kills} kills, {redis.restarts} Redis restart(s); draining")

            mark = time.monotonic()
            settled = self._drain(chatwoot, database, pool)
            self.phases["drain_s"] = time.monotonic() - mark
            time.sleep(config.quiet_s)  # room for a late duplicate to show itself before counting
            report = count(chatwoot, database, self.sent, settled=settled)
            report.config = {k: v for k, v in asdict(config).items() if k != "settings"}
            report.chaos.update(
                worker_kills=pool.kills, redis_restarts=redis.restarts, webhooks_redelivered=duplicator.redelivered,
                webhooks_late_at_send_end=duplicator.late_at_stop,
                webhooks_caught_up_s=round(duplicator.caught_up_s, 1),
                webhook_deliveries=len(chatwoot.webhooks), lead_retries=self.lead_failures,
                faults_injected=_fault_counts(chatwoot, self.chaos_requests),
                timeline=[f"{t:.1f}s {what}" for t, what in killer.events],
                webhook_statuses=_status_counts(chatwoot.webhooks))
            report.logs = _log_counts(pool.logs(), (self.work_dir / "logs" / "api.log").read_text(errors="replace"))
            self.phases["total_s"] = time.monotonic() - started
            report.phases = {k: round(v, 1) for k, v in self.phases.items()}
            report.database = settings.sqlalchemy_url.split("+", 1)[0]
            return report

    def _leads(self, base_url: str, database: Database) -> list[int]:
        run_id = uuid.uuid4().hex[:6]

        def submit(index: int) -> int:
            for _ in range(10):
                response = client.post("/api/leads", json=_lead(index, run_id))
                if response.status_code == 201:
                    return int(response.json()["conversation_id"])
                self.lead_failures += 1
                time.sleep(0.5)
            raise RuntimeError(f"lead {index}: {response.status_code} {response.text[:200]}")

        # One client shared by the threads (its pool holds a connection per thread): a new client per lead cost
        # ~30 ms of CPU each.
        with httpx.Client(base_url=base_url, timeout=30) as client, ThreadPoolExecutor(8) as executor:
            ours = list(executor.map(submit, range(self.config.conversations)))
        inbox_ids = {int(r["id"]): int(r["inbox_conversation_id"])
                     for r in database.query("SELECT id, inbox_conversation_id FROM conversations")}
        return [inbox_ids[c] for c in ours]

    def _send(self, chatwoot: FakeChatwoot, conversations: list[int]) -> None:
        """Bursts of `burst` messages (0.05–0.3 s apart), conversations taken round-robin, at `rate`."""
        config = self.config
        scripts = _scripts(config, conversations, self.rng)
        order = list(conversations)
        self.rng.shuffle(order)
        said = dict.fromkeys(conversations, 0)
        interval = config.burst / config.rate
        start = time.monotonic()
        remaining = config.messages
        for number in itertools.count():
            if remaining <= 0:
                break
            conversation = order[number % len(order)]
            for _ in range(min(config.burst, remaining)):
                message = chatwoot.customer_says(conversation, scripts[conversation][said[conversation]])
                said[conversation] += 1
                self.sent.append((conversation, message.id))
                remaining -= 1
                time.sleep(self.rng.uniform(0.05, 0.3) / config.burst)
            time.sleep(max(0.0, start + (number + 1) * interval - time.monotonic()))

    def _drain(self, chatwoot: FakeChatwoot, database: Database, pool: WorkerPool) -> bool:
        deadline = time.monotonic() + self.config.drain_timeout_s
        last_report = 0.0
        while time.monotonic() < deadline:
            pool.replace_dead()
            with suppress(TimeoutError):
                chatwoot.flush_webhooks(timeout=1)
                left = unsettled(database, self.sent)
                if left == 0:
                    return True
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    self.log(f"chaos: {left} message(s)/greeting(s) not settled yet")
            time.sleep(0.5)
        return False


def _workers_up(client: httpx.Client) -> int:
    """(One client for all the polls: a new httpx client costs ~30 ms of CPU.)"""
    try:
        return len(client.get("/api/worker/status",  # host names/pids: admin only
                              headers={"Authorization": f"Bearer {CHAOS_ADMIN_TOKEN}"}).json().get("workers") or [])
    except (httpx.HTTPError, ValueError):
        return 0


def _fault_counts(chatwoot: FakeChatwoot, requests: int) -> dict[str, int]:
    """Faults served, by status (or `timeout`), and the calls Chatwoot received while faults were on."""
    counts: dict[str, int] = {}
    for _method, _path, what in list(chatwoot.faults.injected):
        counts[what] = counts.get(what, 0) + 1
    counts["total"] = sum(counts.values())
    counts["requests_during_chaos"] = requests
    return counts


def _status_counts(deliveries: list[Delivery]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for delivery in deliveries:
        key = str(delivery.status) if delivery.status is not None else (delivery.error or "error")
        counts[key] = counts.get(key, 0) + 1
    return counts


def _log_counts(worker_logs: str, api_log: str) -> dict[str, int]:
    """Signals from the processes' logs (for the report; the verdict comes from the counts)."""
    return {
        "sweeper_requeued_jobs": sum(int(line.split("sweeper queued ")[1].split()[0])
                                     for line in worker_logs.splitlines() if "sweeper queued " in line),
        "job_attempt_failures": worker_logs.count("failed (will retry)"),
        "jobs_failed_finally": worker_logs.count("failed (final)"),
        "gave_up": worker_logs.count(" gave up: "),
        "give_up_failed": worker_logs.count("apology/handoff failed"),
        "recovered_after_crash": worker_logs.count("recovered: "),
        "worker_tracebacks": worker_logs.count("Traceback"),
        "api_tracebacks": api_log.count("Traceback"),
    }
