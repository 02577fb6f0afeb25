"""The `aibroker` command in-process (typer's runner): the real command, without a Python start-up per call."""

from __future__ import annotations

from dataclasses import dataclass

from typer.testing import CliRunner

from aibroker.cli import app


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Runs `aibroker ARGS`; AIBROKER_ADMIN_TOKEN is cleared unless `env` sets it (pass it as --token)."""
    result = CliRunner().invoke(app, list(args), env={"AIBROKER_ADMIN_TOKEN": "", "COLUMNS": "120", **(env or {})})
    return CliResult(result.exit_code, result.stdout, result.stderr)
