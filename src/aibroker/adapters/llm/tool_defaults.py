"""Tool inputs the customer already gave (issue #14): a tool call that leaves one out gets it from memory.

The model sees the facts in its system prompt and should pass them; when it omits one (a common slip:
`max_loan` without the ages), the tool runs with the remembered value rather than failing or asking the
customer again. Only arguments the model left out are filled, and only ones the tool declares.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aibroker.domain.customer_facts import CustomerFacts


def tool_defaults(facts: CustomerFacts, today: date) -> dict[str, Any]:
    """Argument name → remembered value, for every argument name the calculator tools use."""
    bought, sold = facts.sale_dates(today)
    income = facts.monthly_income
    values: dict[str, Any] = {
        "price": facts.price, "purchase_price": facts.price, "selling_price": facts.price,
        "property_type": facts.property_type, "loan_kind": facts.loan_kind,
        "property_is_hdb": None if facts.property_type is None else facts.property_type == "HDB",
        "ages": list(facts.ages) or None, "age": facts.ages[0] if len(facts.ages) == 1 else None,
        "monthly_incomes": [float(i) for i in facts.incomes] or None,
        "monthly_income": None if income is None else float(income),
        "fixed": None if income is None else float(income),
        "variable": None if facts.variable_income is None else float(facts.variable_income),
        "other_monthly_debts": None if facts.monthly_debts is None else float(facts.monthly_debts),
        "loans_outstanding": facts.loans_outstanding, "profile": facts.residency,
        "property_count_after_purchase": None if facts.properties_owned is None else facts.properties_owned + 1,
        "purchase_date": bought, "sale_date": sold if bought is not None else None,
        "principal": None if facts.loan_amount is None else float(facts.loan_amount),
        "annual_rate_pct": None if facts.rate_pct is None else float(facts.rate_pct),
        "years": facts.tenure_years, "tenure_years": facts.tenure_years,
        "remaining_lease_years": facts.remaining_lease or (99 if facts.bto else None),
        "hdb_bto": facts.bto,
    }
    if values["price"] is not None:
        values["price"] = values["purchase_price"] = values["selling_price"] = float(facts.price or 0)
    return {key: value for key, value in values.items() if value is not None}
