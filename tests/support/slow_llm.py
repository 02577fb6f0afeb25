"""A reply that is mid-way for as long as a test needs: an OpenAI-compatible fake whose first answer takes
`seconds`. Replies wait out their human-like delay as delayed jobs (no worker holds them), so the moment to kill
or stop a worker "mid-reply" is while it generates: the ledger claim is taken and nothing is sent yet."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.fakes.fake_openai import FakeOpenAI

SLOW_ANSWER = "For a bank loan you usually need your NRIC, payslips and your CPF contribution history."


@contextmanager
def slow_llm(seconds: float) -> Iterator[FakeOpenAI]:
    """The first generation takes `seconds`; later requests (a recovering worker's) are unscripted, answered 418,
    and the product falls back to its offline responder for them."""
    with FakeOpenAI.running() as llm:
        llm.push_text(SLOW_ANSWER, delay_s=seconds)
        yield llm


def llm_env(llm: FakeOpenAI) -> dict[str, object]:
    """Settings that send generation to `llm` and wait for it (no timeout fallback while it is slow)."""
    return {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-test", "OPENAI_TIMEOUT_S": 60,
            "OPENAI_MAX_RETRIES": 0}
