"""`aibroker smoke` failing against a real API with no worker (its passing run, and `aibroker monitor`, are in
test_operations.py, which has a worker running). The command runs in-process (tests/support/cli.py) and talks to the
API over HTTP."""

from __future__ import annotations

from tests.support.app import ADMIN, running_api
from tests.support.cli import cli

TOKEN = ADMIN["Authorization"].removeprefix("Bearer ")


def test_smoke_fails_with_the_step_that_failed_when_nothing_answers(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                                     ) -> None:
    with running_api(make_settings(e2e_db_url)) as api:  # no worker: the greeting never comes
        result = cli("smoke", "--base-url", str(api.base_url).rstrip("/"), "--token", TOKEN, "--timeout", "2")
        assert result.returncode == 1
        assert "ok    mark it as a smoke test" in result.stdout
        assert "FAIL  greeting arrives: nothing within 2 s" in result.stdout
        assert cli("smoke", "--base-url", str(api.base_url)).returncode == 2  # no admin token: refused up front
