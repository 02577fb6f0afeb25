"""Deterministic Singapore mortgage calculators: the only source of figures the chatbot may quote.

Pure functions, no I/O. Every figure comes from `facts` (FACTS.md §A) and every result carries the
facts it used (section, effective date, source, confidence) plus the FACTS A.11 disclaimer.
Invalid inputs raise ValueError with a message naming the field.
"""

from aibroker.domain.mortgage.cpf import CpfLimitsResult, cpf_limits
from aibroker.domain.mortgage.debt_servicing import (
    DebtRatioResult,
    IncomeResult,
    msr_check,
    recognised_monthly_income,
    tdsr_check,
)
from aibroker.domain.mortgage.eligibility import (
    LtvResult,
    TenureResult,
    income_weighted_average_age,
    ltv_limit,
    max_tenure,
)
from aibroker.domain.mortgage.facts import ALL_FACTS, Fact
from aibroker.domain.mortgage.loan import InstalmentResult, StressRateResult, monthly_instalment, stress_rate
from aibroker.domain.mortgage.max_loan import MaxLoanResult, max_loan
from aibroker.domain.mortgage.results import DISCLAIMER, CalcResult, Citation
from aibroker.domain.mortgage.seller_stamp_duty import SsdResult, seller_stamp_duty
from aibroker.domain.mortgage.stamp_duty import (
    AbsdResult,
    BandCharge,
    BsdResult,
    additional_buyer_stamp_duty,
    buyer_stamp_duty,
)

__all__ = [
    "ALL_FACTS",
    "DISCLAIMER",
    "AbsdResult",
    "BandCharge",
    "BsdResult",
    "CalcResult",
    "Citation",
    "CpfLimitsResult",
    "DebtRatioResult",
    "Fact",
    "IncomeResult",
    "InstalmentResult",
    "LtvResult",
    "MaxLoanResult",
    "SsdResult",
    "StressRateResult",
    "TenureResult",
    "additional_buyer_stamp_duty",
    "buyer_stamp_duty",
    "cpf_limits",
    "income_weighted_average_age",
    "ltv_limit",
    "max_loan",
    "max_tenure",
    "monthly_instalment",
    "msr_check",
    "recognised_monthly_income",
    "seller_stamp_duty",
    "stress_rate",
    "tdsr_check",
]
