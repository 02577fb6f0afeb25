"""What `aibroker serve` writes to its log, read from the real process's stderr: no query strings, and no SQL
parameters unless LOG_SQL=true."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from aibroker.config import Settings
from tests.support.app import LEAD, worker_env
from tests.support.servers import free_port, wait_for

NAME = "Zebulon Quartermaine"  # a lead's name: not masked by redaction, so it shows where SQL parameters leak
EMAIL = "zebulon.q@example.com"


@contextmanager
def serving(settings: Settings, log_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "aibroker.cli", "serve"], env=worker_env(settings),
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", timeout=15) as client:
            def answering() -> bool:
                assert process.poll() is None, log_path.read_text(errors="replace")
                try:
                    return client.get("/api/health").status_code in (200, 503)
                except httpx.TransportError:
                    return False

            wait_for(answering, what="`aibroker serve` to answer", timeout_s=60)
            yield client, log_path
    finally:
        process.terminate()
        process.wait(timeout=30)


def _exercise(client: httpx.Client, log_path: Path) -> str:
    response = client.post("/api/leads", json={**LEAD, "name": NAME, "email": EMAIL})
    assert response.status_code == 201, response.text
    assert client.get("/api/health", params={"email": EMAIL, "token": "s3cret-token"}).status_code in (200, 503)
    # The access line of that last request is the sign the log has caught up.
    wait_for(lambda: '"GET /api/health HTTP/1.1"' in log_path.read_text(errors="replace"), what="access log line")
    return log_path.read_text(errors="replace")


def test_debug_log_has_no_query_strings_and_no_sql_parameters(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path) -> None:
    settings = make_settings(e2e_db_url, HOST="127.0.0.1", PORT=free_port(), LOG_LEVEL="DEBUG")
    with serving(settings, tmp_path / "serve.log") as (client, log_path):
        text = _exercise(client, log_path)
    assert "DEBUG" in text  # the level took effect: the absence below means something
    for secret in (EMAIL, "zebulon.q", "s3cret-token", "?email", NAME, "Zebulon"):
        assert secret not in text, f"{secret!r} reached the log"


def test_log_sql_shows_statements_still_redacted(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                 tmp_path: Path) -> None:
    settings = make_settings(e2e_db_url, HOST="127.0.0.1", PORT=free_port(), LOG_SQL=True)
    with serving(settings, tmp_path / "serve.log") as (client, log_path):
        text = _exercise(client, log_path)
    assert "INSERT INTO" in text and NAME in text  # statements and their parameters ...
    assert EMAIL not in text and "6591234567" not in text  # ... with e-mails and phone numbers masked
