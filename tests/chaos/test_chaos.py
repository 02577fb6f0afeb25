"""Nothing lost, nothing doubled under chaos: the API and 3 worker processes, the fake Chatwoot failing a
fifth of our calls and answering 5 % of them too late, 30 % of webhooks delivered twice, a worker SIGKILLed
every few seconds and Redis restarted empty once, with pacing on (human-like delays as delayed jobs). Then every
customer message must have exactly one visible reply (bursts share one) or belong to a conversation handed to a
human; no reply may appear twice.

The harness is shared with `bench/chaos.py` (the long run); see `tests/support/chaos.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.chaos import ChaosConfig, ChaosRun

pytestmark = pytest.mark.slow


def test_nothing_lost_nothing_doubled_under_chaos(e2e_db_url: str, tmp_path: Path) -> None:
    # Pacing on: replies wait as delayed jobs the API queued, which the Redis restart wipes with the rest (the
    # sweeper queues them again, to work out their due moment themselves).
    config = ChaosConfig(messages=300, conversations=40, workers=3, rate=15.0, kill_every_s=3.0,
                         redis_restart_at=0.5, drain_timeout_s=60.0, quiet_s=3.0, settings={"PACING_ENABLED": True})
    report = ChaosRun(config, e2e_db_url, tmp_path).run()
    print(json.dumps(report.as_dict(), indent=1))
    print(report.summary())

    # The chaos really happened.
    assert report.chaos["worker_kills"] >= 4
    assert report.chaos["redis_restarts"] == 1
    assert report.chaos["faults_injected"].get("timeout", 0) > 0
    assert report.chaos["faults_injected"]["total"] > 0.1 * report.chaos["faults_injected"]["requests_during_chaos"]
    assert report.chaos["webhooks_redelivered"] > 0.2 * report.customer_messages

    # Nothing lost, nothing doubled.
    assert report.settled, f"not settled within {config.drain_timeout_s} s: {report.lost_examples[:5]}"
    assert report.lost == 0, report.lost_examples[:10]
    assert report.duplicates == 0, report.duplicate_examples[:10]
    assert report.problems() == []
    assert report.answered + report.handed_off == report.customer_messages == 300
    assert report.answered > 0.5 * report.customer_messages
