"""`aibroker serve` as several API processes on one listening socket (API_PROCESSES), so the API uses more than
the one core a Python process can.

The parent binds the socket and starts each process (multiprocessing's spawn: a fresh interpreter, nothing
inherited but the settings and the socket); the kernel hands each new connection to one of them. Each process is an
ordinary API process (its own pools, live hub and alert monitor: the API is stateless, and the alert monitor judges
once per round across all processes). The parent only watches: on SIGTERM or SIGINT it passes SIGTERM on and waits
for every process to finish its requests; if one process ends by itself, the others are stopped and `serve` exits
with its status, so the service manager restarts the API whole rather than leaving it at part strength unseen.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from aibroker.config import Settings
from aibroker.logging import configure_logging, get_logger

log = get_logger(__name__)
multiprocessing.allow_connection_pickling()  # the listening socket goes to each spawned process

STOP_TIMEOUT_S = 30.0  # a process still running this long after SIGTERM is killed (its requests get 20 s)
ORPHAN_CHECK_S = 1.0


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _process_main(settings: Settings, redis_url: str, inline_worker: bool, sock: socket.socket,
                  parent: int) -> None:
    """One API process (in a spawned interpreter: logging is configured again)."""
    from aibroker.api.app import create_app
    from aibroker.api.server import GracefulServer, server_config

    configure_logging(settings.log_level, log_sql=settings.log_sql)
    threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()
    server = GracefulServer(server_config(create_app(settings, redis_url, inline_worker=inline_worker),
                                          settings.host, settings.port))
    server.run(sockets=[sock])


def _stop_when_orphaned(parent: int) -> None:
    """A parent killed outright (SIGKILL) cannot stop its processes: each stops itself (gracefully) once it sees it
    has a new parent, rather than serving on unwatched and holding the port."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    log.error("API process %d: its parent %d is gone; stopping", os.getpid(), parent)
    os.kill(os.getpid(), signal.SIGTERM)


def serve_processes(settings: Settings, redis_url: str, *, inline_worker: bool, processes: int) -> int:
    """Run `processes` API processes until a signal or until one of them ends; returns the exit status."""
    sock = _listening_socket(settings.host, settings.port)
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    spawn = multiprocessing.get_context("spawn")
    children: list[BaseProcess] = []
    try:
        for _ in range(processes):
            child = spawn.Process(target=_process_main, daemon=False,
                                  args=(settings, redis_url, inline_worker, sock, os.getpid()))
            child.start()
            children.append(child)
        log.info("API processes %s on %s:%d", ", ".join(str(c.pid) for c in children), settings.host, settings.port)
        ended: BaseProcess | None = None
        while not stop.wait(0.5):
            if (ended := next((c for c in children if not c.is_alive()), None)) is not None:
                log.error("API process %s ended (status %s): stopping the others", ended.pid, ended.exitcode)
                break
        _stop_all(children)
        if ended is None:  # stopped by a signal: the status one process gets for it (`serve`'s own, 143 on SIGTERM)
            return 128 + received[0]
        return ended.exitcode if ended.exitcode and ended.exitcode > 0 else 1
    finally:
        _stop_all(children)
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_all(children: list[BaseProcess]) -> None:
    """SIGTERM to each (a graceful stop: requests in flight finish), then wait; kill what outlives the timeout."""
    for child in children:
        if child.is_alive():
            child.terminate()
    for child in children:
        child.join(STOP_TIMEOUT_S)
        if child.is_alive():
            log.error("API process %s did not stop within %.0f s: killed", child.pid, STOP_TIMEOUT_S)
            child.kill()
            child.join()
