"""Alerts against a fake Slack server and a fake JSON webhook, with real worker processes: one message when the
only worker is killed (no heartbeat), one when a worker is back, though two APIs and the workers all judge; and
a handed-off conversation nobody answers within HUMAN_RESPONSE_ALERT_MINUTES."""

from __future__ import annotations

from pathlib import Path

from aibroker.config import Settings
from tests.fakes.fake_slack import FakeSlack, running_fake_slack
from tests.support.app import ADMIN, LEAD, running_api, running_workers, worker_env
from tests.support.servers import WorkerProcess, wait_for

LINK = "https://ops.example.com/console/ops"


def test_one_message_when_the_worker_dies_and_one_when_it_is_back(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path) -> None:
    with running_fake_slack() as slack:
        settings: Settings = make_settings(
            e2e_db_url, SLACK_WEBHOOK_URL=slack.slack_url, ALERT_WEBHOOK_URL=slack.webhook_url,
            # 8 s: a live worker on a starved machine (CI shares two cores) can miss a few 1 s-ish beats; it
            # must not look dead, or the alert starts and ends again and the counts below mean nothing.
            ALERT_WORKER_SILENCE_S=8, ALERT_CHECK_INTERVAL_S=0.3, PUBLIC_BASE_URL="https://ops.example.com/",
            HUMAN_RESPONSE_ALERT_MINUTES=0.02)
        with running_workers(settings, tmp_path) as workers, running_api(settings) as api, running_api(settings):
            wait_for(lambda: api.get("/api/worker/status").json()["running"], what="worker heartbeat", timeout_s=30)
            workers[0].kill()  # SIGKILL: its heartbeat stops, nothing is cleaned up
            started = wait_for(slack.texts, what="the alert", timeout_s=30)
            assert len(started) == 1, started
            assert "No worker heartbeat for 8 s" in started[0] and LINK in started[0]

            again = WorkerProcess(worker_env(settings), tmp_path / "worker-again.log").start()
            try:
                texts = wait_for(lambda: len(slack.texts()) >= 2 and slack.texts(), what="the all-clear",
                                 timeout_s=40)
                assert texts[1].startswith(":white_check_mark: Resolved: No worker heartbeat") and LINK in texts[1]
                payloads = wait_for(lambda: len(slack.payloads()) >= 2 and slack.payloads(), what="JSON webhook")
                assert [(p["alert"], p["state"]) for p in payloads] == [("worker_heartbeat", "firing"),
                                                                         ("worker_heartbeat", "resolved")]
                assert payloads[0]["link"] == LINK and "last worker heartbeat" in payloads[0]["figure"]
                wait_for(lambda: api.get("/api/health", headers=ADMIN).status_code == 200, what="healthy again")
                assert len(slack.texts()) == 2 and len(slack.payloads()) == 2  # no storm, no duplicate

                # A conversation handed to a human that nobody answers for over 1.2 s (0.02 min): one alert; handed
                # back to the bot, the wait is over: one all-clear.
                conversation_id = api.post("/api/leads", json=LEAD).json()["conversation_id"]
                assert api.post(f"/api/conversations/{conversation_id}/handoff", headers=ADMIN).status_code == 200
                # (The handoff itself also posts its own notice to the same Slack channel: one, beside the alerts.)
                waiting = wait_for(lambda: about(slack, "conversation waits for a human"), what="human-wait alert")
                assert len(waiting) == 1 and "waits for a human over 0.02 min: 1 waiting" in waiting[0]
                assert api.post(f"/api/conversations/{conversation_id}/handback", headers=ADMIN).status_code == 200
                waiting = wait_for(lambda: len(about(slack, "conversation waits for a human")) >= 2
                                   and about(slack, "conversation waits for a human"), what="its all-clear")
                assert len(waiting) == 2 and waiting[1].startswith(":white_check_mark: Resolved: A handed-off")
                assert len(handoff_notices(slack)) == 1
            finally:
                again.terminate()


def handoff_notices(slack: FakeSlack) -> list[str]:
    return [text for text in slack.texts() if text.startswith(":raising_hand:")]


def alerts(slack: FakeSlack) -> list[str]:
    return [text for text in slack.texts() if not text.startswith(":raising_hand:")]


def about(slack: FakeSlack, words: str) -> list[str]:
    """The alert messages (start and end) about one condition, in order."""
    return [text for text in alerts(slack) if words in text]
