"""What only one process sees (its Chatwoot breaker, its LLM fallbacks) reaches the alerts and the metrics."""

from __future__ import annotations

from prometheus_client import REGISTRY

from aibroker.adapters.queue.alert_state import RedisAlertState
from aibroker.bootstrap import build_container
from aibroker.wiring_ops import LLM_FALLBACKS_SIGNAL, LocalSignals, read_figures, refresh_shared_metrics


async def test_an_open_chatwoot_circuit_and_failing_llm_become_signals_figures_and_gauges(
        make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(e2e_db_url, CHATWOOT_BASE_URL="http://127.0.0.1:9", CHATWOOT_ACCOUNT_ID=1,
                             CHATWOOT_API_TOKEN="t", SAFE_FETCH_ALLOW_PRIVATE_NETWORK=True)
    container = build_container(settings, settings.redis_url or "")
    try:
        signals = LocalSignals(container)
        assert signals() == set()
        breaker = container.inbox.breaker  # type: ignore[attr-defined]
        while breaker.state == "closed":  # Chatwoot failing call after call, as the transport records it
            breaker.before_call()
            breaker.record_failure()
        for _ in range(LLM_FALLBACKS_SIGNAL):
            container.reply_metrics.record_fallback("timeout")
        assert signals() == {"chatwoot", "llm"}
        assert signals() == {"chatwoot"}  # no new LLM fallbacks since the last round

        state = RedisAlertState(container.redis, settings.queue_prefix)
        await state.signal("llm", ttl_s=30)
        await state.signal("chatwoot", ttl_s=30)
        figures = await read_figures(container, state)
        assert figures.open_circuits == frozenset({"chatwoot", "llm"})
        assert figures.waiting_jobs == 0 and figures.failure_rate is None

        await refresh_shared_metrics(container)
        assert REGISTRY.get_sample_value("aibroker_circuit_open", {"dependency": "chatwoot"}) == 1
        assert (REGISTRY.get_sample_value("aibroker_llm_fallbacks_total", {"reason": "timeout"}) or 0) \
            >= LLM_FALLBACKS_SIGNAL
    finally:
        await container.aclose()
