"""CPF Valuation and Withdrawal Limits for a housing purchase (FACTS A.7, basics only).

Edge cases (remaining lease not covering the youngest buyer to age 95, BRS set-aside, leases under
20 years) are not computed: FACTS gives the pro-ration formula only at M confidence and A.11 sends
them to a human, so the result says so instead.
"""

from __future__ import annotations

from decimal import Decimal

from aibroker.domain.mortgage import facts as F
from aibroker.domain.mortgage._common import HUNDRED, LoanKind, Money, cents, check_loan_kind, positive
from aibroker.domain.mortgage._fact import citations
from aibroker.domain.mortgage.results import CalcResult

_EDGE_CASES = ("If the remaining lease does not cover the youngest buyer to age 95, or is under 20 years, "
               "CPF use is reduced or not allowed; refer such cases to a human broker and the CPF "
               "calculator.")


class CpfLimitsResult(CalcResult):
    loan_kind: LoanKind
    valuation_limit: Decimal | None
    """Lower of price and valuation; None where no limit applies (BTO with an HDB loan)."""
    withdrawal_limit_pct: Decimal | None
    withdrawal_limit: Decimal | None
    """Most CPF OA can pay towards the property; None where no limit applies."""


def cpf_limits(purchase_price: Money, valuation: Money | None = None, loan_kind: LoanKind = "bank", *,
               hdb_bto: bool = False) -> CpfLimitsResult:
    """Valuation Limit (VL) and Withdrawal Limit (WL).

    Bank loan (private, or HDB with a bank loan): WL = 120 % of VL. HDB loan: resale WL = 100 % of VL,
    BTO no limit (both M confidence). Without a valuation the price is used as VL, which assumes the
    valuation is at least the price.
    """
    kind = check_loan_kind(loan_kind)
    price = positive(purchase_price, "purchase_price")
    vl = price if valuation is None else min(price, positive(valuation, "valuation"))
    notes = [_EDGE_CASES]
    if valuation is None:
        notes.append("No valuation given: VL taken as the price (assumes valuation ≥ price).")
    if kind == "hdb" and hdb_bto:
        return CpfLimitsResult(loan_kind=kind, valuation_limit=None, withdrawal_limit_pct=None,
                               withdrawal_limit=None, notes=tuple(notes[:1]),
                               facts=citations(F.CPF_HDB_BTO_NO_LIMIT))
    if kind == "hdb":
        wl_fact = F.CPF_WITHDRAWAL_LIMIT_HDB_RESALE_PCT
        notes.append("Any cash-over-valuation must be paid in cash.")
        used = citations(F.CPF_VALUATION_LIMIT, wl_fact)
    else:
        wl_fact = F.CPF_WITHDRAWAL_LIMIT_BANK_PCT
        notes.append("Using CPF beyond the VL (up to the WL) requires setting aside the Basic Retirement "
                     "Sum.")
        used = citations(F.CPF_VALUATION_LIMIT, wl_fact, F.CPF_BEYOND_VL_BRS)
    return CpfLimitsResult(loan_kind=kind, valuation_limit=vl, withdrawal_limit_pct=wl_fact.value,
                           withdrawal_limit=cents(vl * wl_fact.value / HUNDRED), notes=tuple(notes),
                           facts=used)
