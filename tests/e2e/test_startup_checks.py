"""Start-up checks (issue #10, item 10): a worker or API that cannot work stops within 30 s with one line that
names where it looked and why (never a password, never a traceback); an unmigrated database is refused. And a
worker told to stop while Redis is away still stops."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from aibroker.adapters.queue.embedded_redis import EmbeddedRedis
from aibroker.config import Settings
from aibroker.worker.main import FORCE_CLOSE_S, SHUTDOWN_GRACE_S
from tests.support.app import worker_env
from tests.support.servers import WorkerProcess, free_port, wait_for

pytestmark = pytest.mark.slow

VERDICT_WITHIN_S = 30


def _run(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`aibroker <command>` as an operator starts it, in a directory without a `.env`."""
    return subprocess.run([sys.executable, "-m", "aibroker.cli", command], env={**os.environ, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=VERDICT_WITHIN_S)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_worker_that_cannot_reach_redis_says_where_and_why(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    settings: Settings = make_settings(e2e_db_url, REDIS_URL=f"redis://:hunter2-secret@127.0.0.1:{port}/0")
    line = _one_line(_run("worker", worker_env(settings), tmp_path))
    assert f"127.0.0.1:{port}" in line and "Redis" in line and "hunter2-secret" not in line, line


def test_a_worker_that_cannot_reach_the_database_says_where_and_why(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    settings: Settings = make_settings(f"postgresql://aibroker:hunter2-secret@127.0.0.1:{port}/aibroker")
    line = _one_line(_run("worker", worker_env(settings), tmp_path))
    assert f"127.0.0.1:{port}" in line and "database" in line and "hunter2-secret" not in line, line


def test_serve_and_worker_refuse_an_unmigrated_database(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    settings: Settings = make_settings(f"sqlite:///{empty}")
    for command in ("serve", "worker"):
        line = _one_line(_run(command, worker_env(settings), tmp_path))
        assert "not migrated" in line and "aibroker migrate" in line and str(empty) in line, (command, line)


def test_a_worker_stops_on_sigterm_while_redis_is_down(make_settings, e2e_db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """bullmq's Worker.close() waits for Redis and ignores cancellation: the worker used to hang for good."""
    redis = EmbeddedRedis(tmp_path / "own-redis", port=free_port())
    settings: Settings = make_settings(e2e_db_url, REDIS_URL=redis.start())
    worker = WorkerProcess(worker_env(settings), tmp_path / "worker.log").start()
    try:
        wait_for(lambda: "worker started" in worker.log(), what="worker started", timeout_s=60)
        redis.stop()
        # The grace for active jobs, the forced close, then every other clean-up step bounded the same way.
        # (terminate SIGKILLs it after that: then the exit status is -9)
        assert worker.terminate(timeout_s=SHUTDOWN_GRACE_S + 5 * FORCE_CLOSE_S) == 0, worker.log()[-2000:]
        assert "worker stopped" in worker.log()
        # No job was active: nothing to finish, so it did not wait out the grace for the dead connection (it used
        # to, and then said the active jobs "did not finish in time").
        assert "did not finish in time" not in worker.log()
    finally:
        worker.kill()
        redis.stop()
