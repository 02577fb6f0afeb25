"""What the family evaluation expects of a reply, from the calculators, and the report it writes.

`expected` runs the family's calculator (the same registry the LLM's tools use) and picks the
figures a correct answer states first; `check` judges one conversation's replies; `Report` counts
them per rule and per phrasing style.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from aibroker.adapters.llm.guard import AllowedFigures, Figure, extract_figures
from aibroker.adapters.llm.tools import run_tool
from aibroker.domain.ports import Reply
from tests.eval.families import Family

REPORT_DIR = Path(__file__).parent / "report"  # ignored by git
MAX_WORDS = 90  # issue #14: a chat reply, not a brochure (none of the families asks for detail)

# Which result fields a correct answer states, per calculator (money unless the name ends in _pct).
_FIGURES: dict[str, tuple[str, ...]] = {
    "buyer_stamp_duty": ("amount",),
    "additional_buyer_stamp_duty": ("rate_pct", "amount"),
    "seller_stamp_duty": ("rate_pct", "amount"),
    "tdsr_check": ("limit_pct", "budget_for_new_loan"),
    "msr_check": ("limit_pct", "limit_amount"),
    "stress_test_rate": ("rate_pct",),
    "loan_to_value": ("ltv_pct", "amounts.max_loan"),
    "max_loan": ("max_loan",),
    "monthly_instalment": ("monthly_payment_rounded_up", "annual_rate_pct"),
    "cpf_limits": ("withdrawal_limit_pct", "withdrawal_limit"),
    "recognised_income": ("recognised_monthly_income",),
    "max_tenure": (),
}


@dataclass(frozen=True)
class Expected:
    figures: tuple[Figure, ...]
    phrases: tuple[str, ...]  # non-figure facts, e.g. "15 years"
    result_json: str  # everything the calculator produced: what a reply may quote


def _field(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data[part]
    return data


def expected(family: Family) -> Expected:
    name, args = family.calc
    if name == "none":
        return Expected((), (), "{}")
    result = run_tool(name, json.dumps(args))
    assert result.ok, f"{family.name}: {result.content}"
    data = result.data
    figures = []
    for path in family.figures or _FIGURES[name]:
        value = Decimal(str(_field(data, path)))
        if path.endswith("_pct"):
            figures.append(Figure("percent", value, Decimal("0.1"), f"{value}%"))
        elif value:
            whole = value.to_integral_value(rounding=ROUND_CEILING)
            figures.append(Figure("money", whole, Decimal(1), f"S${whole:,}"))
    phrases: tuple[str, ...] = ()
    if name == "max_tenure":
        phrases = (f"{data['max_years']} years",)
    return Expected(tuple(figures), phrases, result.content)


def states(reply: str, figure: Figure) -> bool:
    """Compared by value, to the precision the reply wrote (a loan rounded down, a payment up)."""
    def close(f: Figure) -> bool:
        slack = f.unit / 2 if f.kind == "percent" else max(f.unit, Decimal(1)) / 2 + 1
        return abs(f.value - figure.value) <= slack
    return any(f.kind == figure.kind and close(f) for f in extract_figures(reply))


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    false_handoff: bool = False
    invented: list[str] = field(default_factory=list)  # figures no calculator, fact or customer gave

    @property
    def ok(self) -> bool:
        return not self.problems and not self.false_handoff and not self.invented


def check(family: Family, exp: Expected, replies: list[Reply], allowed: AllowedFigures) -> Verdict:
    verdict = Verdict()
    final = replies[-1]
    if family.kind == "handoff":
        if final.handoff is None:
            verdict.problems.append(f"no handoff: {final.text!r}")
        return verdict
    if any(r.handoff is not None for r in replies):
        verdict.false_handoff = True
    allowed.add_json(exp.result_json)
    verdict.invented = [f.text for f in extract_figures(final.text) if not allowed.allows(f)]
    if family.kind == "ask":
        questions = [q for q in final.text.split("?")[:-1]]
        if len(questions) != 1 or family.ask not in questions[0].lower():
            verdict.problems.append(f"not one question about {family.ask}: {final.text!r}")
        return verdict
    if len(final.text.split()) > MAX_WORDS:
        verdict.problems.append(f"{len(final.text.split())} words")
    if exp.figures and not final.facts_used:
        verdict.problems.append("no source cited")
    verdict.problems += [f"missing {f.text}" for f in exp.figures if not states(final.text, f)]
    verdict.problems += [f"missing {p!r}" for p in exp.phrases if p not in final.text]
    if exp.figures and "indicative only" not in final.text.lower():
        verdict.problems.append("no indicative-only note")
    if verdict.problems:
        verdict.problems.append(f"in {final.text!r}")
    return verdict


@dataclass
class Report:
    title: str
    rows: list[tuple[Family, str, Verdict]] = field(default_factory=list)

    def add(self, family: Family, style: str, verdict: Verdict) -> None:
        self.rows.append((family, style, verdict))

    @property
    def cases(self) -> int:
        return len(self.rows)

    @property
    def passed(self) -> int:
        return sum(v.ok for _, _, v in self.rows)

    @property
    def false_handoffs(self) -> int:
        return sum(v.false_handoff for _, _, v in self.rows)

    @property
    def answerable(self) -> int:
        return sum(f.kind != "handoff" for f, _, _ in self.rows)

    @property
    def invented(self) -> list[str]:
        return [f"{f.name}/{s}: {', '.join(v.invented)}" for f, s, v in self.rows if v.invented]

    def text(self) -> str:
        lines = [f"{self.title}: {self.passed}/{self.cases} cases pass "
                 f"({100 * self.passed / max(1, self.cases):.1f} %); false handoffs {self.false_handoffs}/"
                 f"{self.answerable}; replies with a figure no calculator produced: {len(self.invented)}"]
        for label, key in (("per rule", 0), ("per phrasing style", 1)):
            groups: dict[str, list[bool]] = defaultdict(list)
            for family, style, verdict in self.rows:
                groups[family.rule if key == 0 else style].append(verdict.ok)
            lines.append(f"  {label}:")
            lines += [f"    {name:<20} {sum(oks):>3}/{len(oks):<3}" for name, oks in sorted(groups.items())]
        failures = [f"    {f.name}/{s}: {'; '.join(v.problems + v.invented)}"
                    + (" [false handoff]" if v.false_handoff else "")
                    for f, s, v in self.rows if not v.ok]
        if failures:
            lines += ["  failures:", *failures]
        return "\n".join(lines)

    def write(self, name: str) -> Path:
        REPORT_DIR.mkdir(exist_ok=True)
        path = REPORT_DIR / name
        path.write_text(self.text() + "\n", encoding="utf-8")
        return path
