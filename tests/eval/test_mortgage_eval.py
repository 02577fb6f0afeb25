"""Table-driven evaluation: do the answers state the right figures? (run with -s to see the score)

Two paths over the same table (`cases.py`):
- offline: the OfflineResponder must state every expected figure, worked out from its own parsing
  of the question (and the history or lead form where the case has one);
- tool path: the fake OpenAI server plays a model that calls the case's tools and then writes the
  case's answer; the expected figures must be in this turn's tool results (so they came from our
  calculators/KB, not from the script), and the answer must pass the guard on the first try.
"""

from __future__ import annotations

import json
from decimal import Decimal

from aibroker.adapters.llm import GuardOutcome, OfflineResponder, ReplyMetrics
from aibroker.adapters.llm.guard import AllowedFigures, Figure, extract_figures
from aibroker.domain.ports import ReplyContext
from tests.adapters.llm.support import context, llm
from tests.eval.cases import CASES, Case
from tests.fakes.fake_openai import FakeOpenAI


def expected_figure(text: str) -> Figure:
    [figure] = extract_figures(text)
    return figure


def states(reply: str, figure: Figure) -> bool:
    return any(f.kind == figure.kind and f.value == figure.value for f in extract_figures(reply))


def turn_context(case: Case) -> ReplyContext:
    return context(case.question, history=case.history, lead=case.lead)


def score(results: list[tuple[Case, list[str]]]) -> tuple[int, int, list[str]]:
    total = sum(len(c.expected) + len(c.phrases) for c, _ in results)
    wrong = [f"{c.name}: {problem}" for c, problems in results for problem in problems]
    return total - len(wrong), total, wrong


def test_eval_covers_enough_questions() -> None:
    assert len(CASES) >= 30
    assert len({c.name for c in CASES}) == len(CASES)


def test_offline_eval() -> None:
    responder = OfflineResponder()
    results = []
    for case in CASES:
        reply = responder.answer(turn_context(case)).text
        problems = [f"missing {e} in {reply!r}" for e in case.expected if not states(reply, expected_figure(e))]
        problems += [f"missing {p!r} in {reply!r}" for p in case.phrases if p not in reply]
        if case.expected and "Indicative only" not in reply:
            problems.append("no indicative-only note")
        results.append((case, problems))
    right, total, wrong = score(results)
    print(f"\noffline eval: {right}/{total} figures right ({len(CASES)} questions)")
    assert not wrong, "\n".join(wrong)


async def test_tool_path_eval(fake_openai: FakeOpenAI) -> None:
    results = []
    for case in CASES:
        fake_openai.reset()
        fake_openai.push_tool_calls(*case.tool_calls)
        fake_openai.push_text(case.llm_text)
        metrics = ReplyMetrics()
        responder = llm(fake_openai.base_url, safe=False, metrics=metrics)
        problems: list[str] = []
        try:
            reply = (await responder.generate(turn_context(case))).text
        except Exception as error:  # an unscripted regeneration shows up as an API error: count it wrong
            results.append((case, [f"failed: {error!r}"] * (len(case.expected) + len(case.phrases))))
            continue
        finally:
            await responder.aclose()
        tool_results = AllowedFigures()
        numbers = ""
        for message in fake_openai.requests[-1]["messages"]:
            if message["role"] == "tool":
                assert "error" not in json.loads(message["content"]), message["content"]
                tool_results.add_json(message["content"])
                numbers += message["content"]
        for text in case.expected:
            figure = expected_figure(text)
            if not states(reply, figure):
                problems.append(f"missing {text} in {reply!r}")
            elif not tool_results.allows(figure):
                problems.append(f"{text} is not in this turn's tool results")
        for phrase in case.phrases:
            years = phrase.split()[0]
            from_tool = f'"{years}"' in numbers or f": {years}," in numbers or f": {years}}}" in numbers
            if phrase not in reply or not from_tool:
                problems.append(f"{phrase!r} not stated or not from a tool")
        if metrics.guard != {GuardOutcome.PASSED: 1}:
            problems.append(f"guard: {metrics.guard}")
        results.append((case, problems))
    right, total, wrong = score(results)
    print(f"\ntool-path eval: {right}/{total} figures right ({len(CASES)} questions)")
    assert not wrong, "\n".join(wrong)


def test_percent_and_money_are_compared_by_value() -> None:
    assert states("ABSD is 20.0 % here", expected_figure("20%"))
    assert states("about S$600k", expected_figure("S$600,000"))
    assert not states("20 years", expected_figure("20%"))
    assert Decimal(1) == expected_figure("S$1").value
