"""`OpenAICompatResponder`: replies from any OpenAI-compatible chat-completions server, with our tools.

One turn: system prompt + trimmed history → the model may call the calculator/KB/handoff tools (we
run them, at most `max_tool_rounds` rounds, then the model must answer in text) → the output guard
checks every figure in the draft against this turn's tool results, the KB and the customer's own
numbers → a draft with an unsupported figure is regenerated once with a corrective note → if that
fails too, the safe answer goes out (the offline responder's answer when one is wired, which uses
the same calculators). Figures always carry the FACTS A.11 "indicative only" note.

Errors from the server (timeouts, connection errors, 429/5xx after the client's own retries) are
raised, not swallowed: `FallbackResponder` turns them into an offline answer and counts them.

Streaming: `stream()` yields the model's text as it arrives, unguarded; it is for previews only
(a typing bubble in our own UI). `stream_guarded()` is the one to feed an external inbox: it buffers
the whole answer, runs the guard, and yields only an answer that passed (or the regenerated/safe
one). The trade-off is explicit: the guarded stream gives no earlier first token than `generate()`,
because a figure cannot be unsaid once a customer has seen it; what it keeps is one interface for
callers that consume chunks.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageFunctionToolCall, ChatCompletionMessageParam

from aibroker.adapters.llm import knowledge
from aibroker.adapters.llm.guard import AllowedFigures, GuardResult, check, extract_figures
from aibroker.adapters.llm.metrics import GuardOutcome, ReplyMetrics
from aibroker.adapters.llm.prompts import DEFAULT_HISTORY_BUDGET_TOKENS, build_messages, current_episode
from aibroker.adapters.llm.tool_defaults import tool_defaults
from aibroker.adapters.llm.tools import run_tool, tool_schemas
from aibroker.config import Settings
from aibroker.domain.conversation import Role
from aibroker.domain.mortgage import DISCLAIMER
from aibroker.domain.number_words import digits_for_words
from aibroker.domain.ports import HandoffSignal, Reply, ReplyContext, ReplyGenerator

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 1200  # a chat bubble, not an essay, even if the model ignores the length rule
HANDOFF_TEXT = ("I'll bring in one of our human specialists for this; they'll continue right here with you "
                "shortly.")
SAFE_TEXT = ("I want to be sure every figure I give you is accurate, so let me get this checked properly "
             "rather than guess. Could you tell me a little more about what you'd like to know?")
_SENTENCE_END = re.compile(r"(?s)^(.*[.!?])[^.!?]*$")


def corrective_note(result: GuardResult) -> str:
    what = result.describe() or "(an empty reply)"
    return ("[Reviewer note, not from the customer] Your draft stated figures that are not in any tool "
            f"result of this turn or in the facts: {what}. Rewrite the reply without them; if a number "
            "is needed, call the matching tool first. Keep it short.")


@dataclass
class _Turn:
    messages: list[dict[str, Any]]
    allowed: AllowedFigures
    handoff: HandoffSignal | None = None
    facts: list[str] = field(default_factory=list)
    rounds: int = 0
    defaults: dict[str, Any] = field(default_factory=dict)  # remembered tool inputs (tool_defaults)


def _trim(text: str, finish_reason: str | None) -> str:
    text = text.strip()
    if finish_reason == "length" or len(text) > MAX_REPLY_CHARS:
        text = text[:MAX_REPLY_CHARS]
        if (m := _SENTENCE_END.match(text)) is not None:
            text = m.group(1)
    return text


class OpenAICompatResponder:
    """ReplyGenerator over AsyncOpenAI. Pass `client`, or `base_url`/`api_key` to build one."""

    source = "llm"

    def __init__(self, *, client: AsyncOpenAI | None = None, base_url: str | None = None,
                 api_key: str | None = None, model: str = "gpt-4o-mini", timeout_s: float = 20.0,
                 max_retries: int = 2, max_tool_rounds: int = 4, max_reply_tokens: int = 300,
                 temperature: float | None = 0.3,
                 history_budget_tokens: int = DEFAULT_HISTORY_BUDGET_TOKENS,
                 safe_responder: ReplyGenerator | None = None, metrics: ReplyMetrics | None = None) -> None:
        # Local servers (vLLM, Ollama, llama.cpp) ignore the key, but the client insists on one.
        self._client = client or AsyncOpenAI(base_url=base_url, api_key=api_key or "unused",
                                             timeout=timeout_s, max_retries=max_retries)
        self.model = model
        self.max_tool_rounds = max_tool_rounds
        self.max_reply_tokens = max_reply_tokens
        self.temperature = temperature
        self.history_budget_tokens = history_budget_tokens
        self.safe_responder = safe_responder
        self.metrics = metrics
        self._tools = tool_schemas()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> OpenAICompatResponder:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return cls(base_url=settings.openai_base_url, api_key=key, model=settings.openai_model,
                   timeout_s=settings.openai_timeout_s, **kwargs)

    async def aclose(self) -> None:
        await self._client.close()

    # --- the public ReplyGenerator interface -----------------------------------------------------
    async def generate(self, context: ReplyContext) -> Reply:
        turn = self._new_turn(context)
        draft = await self._complete(turn)
        return await self._finish(turn, draft, context)

    async def stream(self, context: ReplyContext) -> AsyncIterator[str]:
        """Unguarded text chunks as they arrive (tool rounds run in between). Not for external inboxes."""
        async for chunk in self._stream_rounds(self._new_turn(context)):
            yield chunk

    async def stream_guarded(self, context: ReplyContext) -> AsyncIterator[str]:
        """Buffer the streamed answer, guard it, then yield the approved text (see module docstring)."""
        turn = self._new_turn(context)
        draft = "".join([chunk async for chunk in self._stream_rounds(turn)])
        reply = await self._finish(turn, draft.strip(), context)
        yield reply.text

    # --- one turn ---------------------------------------------------------------------------------
    def _new_turn(self, context: ReplyContext) -> _Turn:
        allowed = _knowledge_figures().copy()
        for message in [*current_episode(context.history), *context.new_messages]:
            if message.role == Role.CUSTOMER:
                # the customer's own numbers may be echoed back, also those written in words
                allowed.add_text(digits_for_words(message.content))
        if context.lead is not None:
            lead = context.lead
            allowed.add_value([lead.actual_incomes, lead.total_monthly_income, lead.property_price,
                               lead.outstanding_loan, lead.current_rate])
        return _Turn(build_messages(context, budget_tokens=self.history_budget_tokens), allowed,
                     defaults=tool_defaults(context.known_facts(), context.now.date()))

    def _request(self, turn: _Turn) -> dict[str, Any]:
        tools_left = turn.rounds < self.max_tool_rounds
        request: dict[str, Any] = {
            "model": self.model, "messages": cast("list[ChatCompletionMessageParam]", turn.messages),
            # max_tokens rather than max_completion_tokens: more OpenAI-compatible servers accept it.
            "max_tokens": self.max_reply_tokens, "tools": self._tools,
            "tool_choice": "auto" if tools_left else "none",
        }
        if self.temperature is not None:
            request["temperature"] = self.temperature
        return request

    async def _complete(self, turn: _Turn) -> str:
        """Run the tool loop until the model answers in text; that text (maybe empty)."""
        while True:
            tools_left = turn.rounds < self.max_tool_rounds
            started = time.perf_counter()
            response = await self._client.chat.completions.create(**self._request(turn))
            if self.metrics is not None:
                self.metrics.record_llm_call(time.perf_counter() - started, response.usage)
            turn.rounds += 1
            choice = response.choices[0]
            calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or ()
                     if isinstance(c, ChatCompletionMessageFunctionToolCall)]
            if calls and tools_left:
                self._run_calls(turn, choice.message.content, calls)
                continue
            return _trim(choice.message.content or "", choice.finish_reason)

    async def _stream_rounds(self, turn: _Turn) -> AsyncIterator[str]:
        while True:
            tools_left = turn.rounds < self.max_tool_rounds
            stream = await self._client.chat.completions.create(**self._request(turn), stream=True)
            turn.rounds += 1
            text: list[str] = []
            calls: dict[int, list[str]] = {}  # index → [id, name, arguments]: they arrive in pieces
            async for chunk in stream:
                if not chunk.choices:
                    continue  # the usage chunk
                delta = chunk.choices[0].delta
                if delta.content:
                    text.append(delta.content)
                    yield delta.content
                for part in delta.tool_calls or ():
                    slot = calls.setdefault(part.index, ["", "", ""])
                    slot[0] = part.id or slot[0]
                    if part.function is not None:
                        slot[1] += part.function.name or ""
                        slot[2] += part.function.arguments or ""
            if not (calls and tools_left):
                return
            self._run_calls(turn, "".join(text) or None,
                            [(c[0], c[1], c[2]) for _, c in sorted(calls.items())])

    def _run_calls(self, turn: _Turn, content: str | None, calls: list[tuple[str, str, str]]) -> None:
        turn.messages.append({"role": "assistant", "content": content, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            for call_id, name, args in calls]})
        for call_id, name, args in calls:
            result = run_tool(name, args, turn.defaults)
            log.debug("tool %s ok=%s", name, result.ok)
            turn.allowed.add_json(result.content)
            turn.facts.extend(f for f in result.facts_used if f not in turn.facts)
            turn.handoff = turn.handoff or result.handoff
            turn.messages.append({"role": "tool", "tool_call_id": call_id, "content": result.content})

    async def _finish(self, turn: _Turn, draft: str, context: ReplyContext) -> Reply:
        if not draft and turn.handoff is not None:
            return self._reply(HANDOFF_TEXT, turn, GuardOutcome.PASSED)
        result = check(draft, turn.allowed)
        if draft and result.ok:
            return self._reply(draft, turn, GuardOutcome.PASSED)
        log.info("guard: unsupported figures %s; regenerating", result.describe())
        if draft:
            turn.messages.append({"role": "assistant", "content": draft})
        turn.messages.append({"role": "user", "content": corrective_note(result)})
        turn.rounds = min(turn.rounds, self.max_tool_rounds - 1)  # one more tool round if it needs one
        second = await self._complete(turn)
        if second and check(second, turn.allowed).ok:
            return self._reply(second, turn, GuardOutcome.REGENERATED)
        if not second and turn.handoff is not None:
            return self._reply(HANDOFF_TEXT, turn, GuardOutcome.REGENERATED)
        self._count(GuardOutcome.REPLACED)
        if self.safe_responder is not None:
            safe = await self.safe_responder.generate(context)
            return Reply(text=safe.text, source=safe.source, handoff=turn.handoff or safe.handoff,
                         facts_used=safe.facts_used)
        return Reply(text=SAFE_TEXT, source="safe", handoff=turn.handoff)

    def _reply(self, text: str, turn: _Turn, outcome: str) -> Reply:
        self._count(outcome)
        if extract_figures(text) and "indicative" not in text.lower():
            text = f"{text} ({DISCLAIMER})"  # FACTS A.11, enforced rather than trusted to the model
        return Reply(text=text, source=self.source, handoff=turn.handoff, facts_used=list(turn.facts))

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.record_guard(outcome)


@cache
def _knowledge_figures() -> AllowedFigures:
    """Figures in the KB (built once; callers copy): facts the reply may quote without a tool call."""
    allowed = AllowedFigures()
    for entry in knowledge.entries():
        allowed.add_text(entry.text)
        allowed.add_text(entry.effective)
    return allowed
