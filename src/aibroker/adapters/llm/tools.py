"""The mortgage calculators, the knowledge base and the handoff signal as typed LLM tools.

Each tool has a pydantic argument model; its JSON schema is what the model sees (OpenAI function
calling), and the same model validates what the model sends back. `run_tool` never raises: bad JSON,
a schema violation or a calculator's ValueError comes back as a tool error the model can read and
correct ("price must be greater than zero"), so one sloppy call does not cost the customer a reply.

Results are the calculators' own JSON (`model_dump(mode="json")`), trimmed of repeated citations in
nested sub-results, so every figure the model may quote is in a tool message of this turn, which is
what the output guard checks against.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aibroker.adapters.llm import knowledge
from aibroker.domain import mortgage as M
from aibroker.domain.ports import HandoffSignal

log = logging.getLogger(__name__)

A = TypeVar("A", bound=BaseModel)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BsdArgs(_Args):
    price: float = Field(gt=0, description="Purchase price in S$")
    residential: bool = Field(True, description="False for commercial/industrial property")
    market_value: float | None = Field(None, gt=0, description="Market value in S$ if above the price")


class AbsdArgs(_Args):
    price: float = Field(gt=0, description="Purchase price in S$")
    profile: Literal["citizen", "pr", "foreigner", "entity", "trustee"]
    property_count_after_purchase: int = Field(ge=1, description="Residential properties owned incl. this "
                                                                 "one")


class SsdArgs(_Args):
    selling_price: float = Field(gt=0, description="Selling price in S$")
    purchase_date: date = Field(description="Date the seller bought the property (ISO)")
    sale_date: date = Field(description="Date of sale (ISO); today if selling now")


class InstalmentArgs(_Args):
    principal: float = Field(ge=0, description="Loan amount in S$")
    annual_rate_pct: float = Field(ge=0, lt=100, description="Annual interest rate in percent")
    years: int = Field(ge=1, le=35)


class StressArgs(_Args):
    loan_kind: Literal["bank", "hdb"]
    quoted_rate_pct: float | None = Field(None, ge=0, lt=100)


class TdsrArgs(_Args):
    monthly_income: float = Field(gt=0, description="Recognised gross monthly income in S$")
    new_instalment: float = Field(0, ge=0, description="New loan instalment at the stress rate; 0 for budget")
    existing_property_instalments: float = Field(0, ge=0)
    other_monthly_debts: float = Field(0, ge=0, description="Car, student, card and other loans per month")


class MsrArgs(_Args):
    monthly_income: float = Field(gt=0)
    new_instalment: float = Field(0, ge=0)
    existing_property_instalments: float = Field(0, ge=0)


class LtvArgs(_Args):
    loans_outstanding: int = Field(ge=0, description="Other outstanding housing loans (not this one)")
    tenure_years: int = Field(ge=1, le=35)
    age: float = Field(ge=18, le=100, description="Borrower's age (income-weighted average if joint)")
    property_is_hdb: bool
    loan_kind: Literal["bank", "hdb"] = "bank"
    price: float | None = Field(None, gt=0, description="Price (or lower valuation) to turn % into S$")


def downpayment(price: Decimal, ltv_pct: Decimal, min_cash_pct: Decimal | None) -> dict[str, Decimal]:
    """The LTV result in dollars on a price: the loan cap, the downpayment and its minimum cash part.

    Presentation arithmetic only (the percentages come from `ltv_limit`); shared with the offline
    answers so both paths state the same amounts.
    """
    loan = price * ltv_pct / 100
    amounts = {"price": price, "max_loan": loan, "downpayment": price - loan}
    if min_cash_pct is not None:
        amounts["min_cash"] = price * min_cash_pct / 100
    return amounts


def _ltv(a: LtvArgs) -> dict[str, Any]:
    result = M.ltv_limit(a.loans_outstanding, a.tenure_years, a.age, a.property_is_hdb, a.loan_kind)
    data = result.model_dump(mode="json")
    if a.price is not None:
        amounts = downpayment(Decimal(str(a.price)), result.ltv_pct, result.min_cash_pct)
        data["amounts"] = {k: str(v.quantize(Decimal(1))) for k, v in amounts.items()}
    return data


class TenureArgs(_Args):
    property_type: Literal["HDB", "EC", "Private", "Landed"]
    loan_kind: Literal["bank", "hdb"] = "bank"
    ages: list[int] = Field(min_length=1, max_length=4)
    monthly_incomes: list[float] = Field(min_length=1, max_length=4)
    remaining_lease_years: float | None = Field(None, gt=0, description="Needed for HDB loans")


class MaxLoanArgs(TenureArgs):
    price: float = Field(gt=0, description="Purchase price in S$")
    valuation: float | None = Field(None, gt=0)
    existing_property_instalments: float = Field(0, ge=0)
    other_monthly_debts: float = Field(0, ge=0)
    loans_outstanding: int = Field(0, ge=0)
    tenure_years: int | None = Field(None, ge=1, le=35)
    quoted_rate_pct: float | None = Field(None, ge=0, lt=100)


class IncomeArgs(_Args):
    fixed: float = Field(0, ge=0, description="Fixed monthly salary and allowances")
    variable: float = Field(0, ge=0, description="Monthly average of bonus, commission, overtime")
    rental: float = Field(0, ge=0)
    self_employed: float = Field(0, ge=0, description="Monthly self-employed income (from the NOA)")


class CpfArgs(_Args):
    purchase_price: float = Field(gt=0)
    valuation: float | None = Field(None, gt=0)
    loan_kind: Literal["bank", "hdb"] = "bank"
    hdb_bto: bool = False


class LookupArgs(_Args):
    query: str = Field(min_length=2, max_length=300, description="What rule or figure to look up")


HandoffTopic = Literal["foreigner", "trust_or_entity", "absd_remission_or_refund", "decoupling",
                       "cpf_edge_case", "refinancing_after_mop", "customer_asked_for_human",
                       "customer_frustrated", "cannot_help"]


class HandoffArgs(_Args):
    reason: HandoffTopic
    detail: str = Field("", max_length=300)


@dataclass(frozen=True)
class Tool(Generic[A]):
    name: str
    description: str
    args: type[A]
    run: Callable[[A], BaseModel | dict[str, Any]]

    def schema(self) -> dict[str, Any]:
        """The OpenAI `tools` entry."""
        params = self.args.model_json_schema()
        params.pop("title", None)
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": params}}


@dataclass(frozen=True)
class ToolResult:
    name: str
    ok: bool
    content: str  # the JSON the model reads as the tool message
    data: dict[str, Any] = field(default_factory=dict)
    facts_used: tuple[str, ...] = ()
    handoff: HandoffSignal | None = None


def _lookup(args: LookupArgs) -> dict[str, Any]:
    found = knowledge.search(args.query)
    return {"results": [e.as_dict() for e in found],
            "note": "Quote facts with their effective date." if found else "Nothing found; do not guess."}


def _handoff(args: HandoffArgs) -> dict[str, Any]:
    return {"handed_off": True, "instruction": "Tell the customer briefly that a human specialist will "
            "continue in this chat shortly. Do not answer the question yourself."}


# Topic → `HandoffReason` value of aibroker.domain.handoff (the reply use case maps it back).
_HANDOFF_REASON = {"customer_asked_for_human": "explicit_request", "customer_frustrated": "frustration",
                   "cannot_help": "no_progress"}

TOOLS: dict[str, Tool[Any]] = {t.name: t for t in (
    Tool("buyer_stamp_duty", "Buyer's Stamp Duty (BSD) on a purchase", BsdArgs,
         lambda a: M.buyer_stamp_duty(a.price, a.residential, market_value=a.market_value)),
    Tool("additional_buyer_stamp_duty", "ABSD rate and amount by buyer profile and property count",
         AbsdArgs,
         lambda a: M.additional_buyer_stamp_duty(a.price, a.profile, a.property_count_after_purchase)),
    Tool("seller_stamp_duty", "Seller's Stamp Duty (SSD) on selling a residential property", SsdArgs,
         lambda a: M.seller_stamp_duty(a.selling_price, a.purchase_date, a.sale_date)),
    Tool("monthly_instalment", "Monthly instalment of a loan at a given rate and tenure", InstalmentArgs,
         lambda a: M.monthly_instalment(a.principal, a.annual_rate_pct, a.years)),
    Tool("stress_test_rate", "The interest rate banks/HDB must use to assess affordability", StressArgs,
         lambda a: M.stress_rate(a.loan_kind, a.quoted_rate_pct)),
    Tool("tdsr_check", "Total Debt Servicing Ratio check, or the monthly budget for a new loan", TdsrArgs,
         lambda a: M.tdsr_check(a.monthly_income, a.new_instalment,
                                existing_property_instalments=a.existing_property_instalments,
                                other_monthly_debts=a.other_monthly_debts)),
    Tool("msr_check", "Mortgage Servicing Ratio check (HDB flats, ECs from developers)", MsrArgs,
         lambda a: M.msr_check(a.monthly_income, a.new_instalment,
                               existing_property_instalments=a.existing_property_instalments)),
    Tool("loan_to_value", "LTV limit and minimum cash downpayment (in S$ when a price is given)", LtvArgs,
         _ltv),
    Tool("max_tenure", "Longest loan tenure allowed", TenureArgs,
         lambda a: M.max_tenure(a.property_type, a.loan_kind, a.ages, a.monthly_incomes,
                                a.remaining_lease_years)),
    Tool("max_loan", "Maximum loan: lowest of the LTV, TDSR and MSR caps", MaxLoanArgs,
         lambda a: M.max_loan(price=a.price, property_type=a.property_type, loan_kind=a.loan_kind,
                              ages=a.ages, monthly_incomes=a.monthly_incomes, valuation=a.valuation,
                              existing_property_instalments=a.existing_property_instalments,
                              other_monthly_debts=a.other_monthly_debts,
                              loans_outstanding=a.loans_outstanding,
                              tenure_years=a.tenure_years, quoted_rate_pct=a.quoted_rate_pct,
                              remaining_lease_years=a.remaining_lease_years)),
    Tool("recognised_income", "Monthly income a lender counts (haircuts on variable/rental)", IncomeArgs,
         lambda a: M.recognised_monthly_income(a.fixed, a.variable, a.rental, a.self_employed)),
    Tool("cpf_limits", "CPF Valuation and Withdrawal Limits for a purchase", CpfArgs,
         lambda a: M.cpf_limits(a.purchase_price, a.valuation, a.loan_kind, hdb_bto=a.hdb_bto)),
    Tool("lookup_facts", "Look up Singapore housing-loan rules with effective dates and sources",
         LookupArgs, _lookup),
    Tool("handoff_to_human", "Hand the chat to a human broker (compliance topics or on request)",
         HandoffArgs, _handoff),
)}


def tool_schemas() -> list[dict[str, Any]]:
    return [tool.schema() for tool in TOOLS.values()]


def _trim(data: Any, top: bool = True) -> Any:
    """Drop nested citations/disclaimers: the top level already carries the merged ones."""
    if isinstance(data, dict):
        skip = set() if top else {"facts", "disclaimer", "indicative_only"}
        return {k: _trim(v, False) for k, v in data.items() if k not in skip}
    if isinstance(data, list):
        return [_trim(v, False) for v in data]
    return data


def _error(name: str, message: str) -> ToolResult:
    return ToolResult(name, False, json.dumps({"error": message}))


def run_tool(name: str, arguments_json: str, defaults: dict[str, Any] | None = None) -> ToolResult:
    """Validate and run one tool call. Never raises: failures come back as `{"error": ...}` results.

    `defaults` (see `tool_defaults`) fill the arguments the call left out that the tool declares."""
    tool = TOOLS.get(name)
    if tool is None:
        return _error(name, f"unknown tool {name!r}; available: {', '.join(TOOLS)}")
    try:
        raw = json.loads(arguments_json or "{}")
        if isinstance(raw, dict) and defaults:
            raw = {**{k: v for k, v in defaults.items() if k in tool.args.model_fields}, **raw}
        args = tool.args.model_validate(raw)
    except json.JSONDecodeError as exc:
        return _error(name, f"arguments are not valid JSON: {exc.msg}")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}"
                             for e in exc.errors())
        return _error(name, f"invalid arguments: {problems}")
    try:
        result = tool.run(args)
    except ValueError as exc:  # the calculators' documented way of refusing an input
        return _error(name, str(exc))
    except Exception:  # a bug must not cost the customer a reply; the model is told, we log it
        log.exception("tool %s failed", name)
        return _error(name, "internal error in the calculator; do not guess the figure")
    data: dict[str, Any] = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    data = _trim(data)
    facts = tuple(f["key"] for f in data.get("facts", ()) if isinstance(f, dict) and "key" in f)
    if name == "lookup_facts":
        facts = tuple(r["key"] for r in data["results"])
    handoff = None
    if isinstance(args, HandoffArgs):
        handoff = HandoffSignal(reason=_HANDOFF_REASON.get(args.reason, "compliance"),
                                detail=f"{args.reason}: {args.detail}".rstrip(": "))
    elif data.get("handoff_recommended"):  # FACTS A.11, enforced here rather than trusted to the model
        handoff = HandoffSignal(reason="compliance", detail=f"{name}: {data.get('profile', '')}".rstrip(": "))
    return ToolResult(name, True, json.dumps(data, ensure_ascii=False), data, facts, handoff)
