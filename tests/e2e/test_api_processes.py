"""API_PROCESSES: `aibroker serve` as several API processes on one port. Both answer; SIGTERM stops them all; one
that dies takes the others down with it (the service manager then restarts the API whole); a parent killed outright
leaves none behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from aibroker.config import Settings
from tests.support.app import ADMIN, worker_env
from tests.support.servers import free_port, wait_for

pytestmark = pytest.mark.slow


def _serve(settings: Settings, tmp_path: Path, processes: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, **worker_env(settings), "PORT": str(port), "HOST": "127.0.0.1",
           "API_PROCESSES": str(processes)}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "aibroker.cli", "serve"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    return server, f"http://127.0.0.1:{port}"


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _answering_pids(base_url: str, want: int) -> set[int]:
    """The API processes that answer fresh connections (no keep-alive: each request its own connection, and the
    kernel picks the process). (`serve`'s children also include multiprocessing's resource tracker.)
    One client for all the requests: a new httpx client costs ~30 ms of CPU (its TLS context), and 16 of them every
    0.1 s while `serve` started took most of a core away from the processes being waited for."""
    seen: set[int] = set()

    with httpx.Client(base_url=base_url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as api, \
            ThreadPoolExecutor(8) as pool:

        def one() -> int | None:
            try:
                return api.get("/api/health", headers=ADMIN).json().get("api_pid")
            except httpx.HTTPError:
                return None

        def enough() -> bool:
            seen.update(pid for pid in pool.map(lambda _: one(), range(16)) if pid is not None)
            return len(seen) >= want

        wait_for(enough, timeout_s=60, what=f"{want} API processes answering")
    return seen


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_two_api_processes_both_answer_and_sigterm_stops_them_all(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path) -> None:
    server, base_url = _serve(make_settings(e2e_db_url), tmp_path, 2)
    try:
        pids = _answering_pids(base_url, 2)
        assert pids <= _children(server.pid), (pids, (tmp_path / "serve.log").read_text()[-2000:])
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 128 + signal.SIGTERM
        assert all(_gone(pid) for pid in pids)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def test_an_api_process_that_dies_stops_the_others_and_serve_exits_with_failure(  # type: ignore[no-untyped-def]
        make_settings, e2e_db_url: str, tmp_path: Path) -> None:
    server, base_url = _serve(make_settings(e2e_db_url), tmp_path, 2)
    try:
        victim, survivor = sorted(_answering_pids(base_url, 2))
        os.kill(victim, signal.SIGKILL)
        assert server.wait(timeout=40) == 1
        assert _gone(survivor)
        assert f"API process {victim} ended" in (tmp_path / "serve.log").read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def test_api_processes_stop_when_serve_is_killed_outright(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    server, base_url = _serve(make_settings(e2e_db_url), tmp_path, 2)
    try:
        pids = _answering_pids(base_url, 2)
    finally:
        server.kill()
        server.wait(timeout=10)
    wait_for(lambda: all(_gone(pid) for pid in pids), timeout_s=30, what="the orphaned API processes to stop")
