"""Tools: schemas for function calling, and `run_tool` never raising."""

from __future__ import annotations

import json

import pytest

from aibroker.adapters.llm.tools import TOOLS, run_tool, tool_schemas


def test_every_tool_has_an_openai_function_schema() -> None:
    schemas = tool_schemas()
    names = [s["function"]["name"] for s in schemas]
    assert len(names) == len(set(names)) == len(TOOLS)
    for schema in schemas:
        assert schema["type"] == "function"
        params = schema["function"]["parameters"]
        assert params["type"] == "object" and params["additionalProperties"] is False
        assert schema["function"]["description"]
    assert {"buyer_stamp_duty", "additional_buyer_stamp_duty", "seller_stamp_duty", "monthly_instalment",
            "tdsr_check", "msr_check", "loan_to_value", "max_tenure", "max_loan", "cpf_limits",
            "stress_test_rate", "recognised_income", "lookup_facts", "handoff_to_human"} == set(names)


def test_calculator_result_carries_its_facts() -> None:
    result = run_tool("buyer_stamp_duty", json.dumps({"price": 1_200_000}))
    assert result.ok and result.data["amount"] == "32600"
    assert result.facts_used[0] == "bsd_residential"
    assert result.data["disclaimer"].startswith("Indicative only")
    assert result.data["facts"][0]["effective_from"] == "2023-02-15"


def test_nested_results_are_trimmed_of_repeated_citations() -> None:
    result = run_tool("max_loan", json.dumps({"price": 800_000, "property_type": "Private", "ages": [35],
                                              "monthly_incomes": [10_000]}))
    assert result.data["max_loan"] == "600000"
    assert "facts" in result.data and "facts" not in result.data["tdsr"]


@pytest.mark.parametrize(("name", "arguments", "message"), [
    ("buyer_stamp_duty", '{"price": "lots"}', "invalid arguments: price"),
    ("buyer_stamp_duty", '{"price": 1, "colour": "red"}', "colour"),
    ("buyer_stamp_duty", "{", "not valid JSON"),
    ("seller_stamp_duty", '{"selling_price": 1e6, "purchase_date": "2026-01-01", "sale_date": "2025-01-01"}',
     "before purchase_date"),
    ("max_tenure", '{"property_type": "HDB", "loan_kind": "hdb", "ages": [30], "monthly_incomes": [5000]}',
     "remaining_lease"),
    ("no_such_tool", "{}", "unknown tool"),
])
def test_bad_calls_come_back_as_tool_errors(name: str, arguments: str, message: str) -> None:
    result = run_tool(name, arguments)
    assert not result.ok
    assert message in json.loads(result.content)["error"]


def test_handoff_tool_and_compliance_results_signal_handoff() -> None:
    handoff = run_tool("handoff_to_human", '{"reason": "trust_or_entity", "detail": "buying via a trust"}')
    assert handoff.handoff is not None and handoff.handoff.reason == "compliance"
    assert handoff.handoff.detail == "trust_or_entity: buying via a trust"
    absd = run_tool("additional_buyer_stamp_duty",
                    '{"price": 1000000, "profile": "entity", "property_count_after_purchase": 1}')
    assert absd.ok and absd.handoff is not None
    citizen = run_tool("additional_buyer_stamp_duty",
                       '{"price": 1000000, "profile": "citizen", "property_count_after_purchase": 2}')
    assert citizen.handoff is None and citizen.data["amount"] == "200000"


def test_lookup_facts_quotes_effective_dates_and_sources() -> None:
    result = run_tool("lookup_facts", '{"query": "TDSR limit"}')
    first = result.data["results"][0]
    assert first["key"] == "tdsr_limit"
    assert "16 Dec 2021" in first["effective"] and "mas.gov.sg" in first["source"]
    assert result.facts_used[0] == "tdsr_limit"
