"""Every Singapore home-loan figure the calculators use, each with its provenance (FACTS.md §A).

The bot must never invent numbers, so a figure lives here exactly once, with the FACTS section it
comes from, the date it took effect, the authority and page it was read from, and a confidence grade
(H official / several consistent sources, M reputable secondary, L weak or inferred). Percentages are
stored as percent (`Decimal("55")` means 55 %). Re-verify against MAS/HDB/IRAS/CPF before release.
The tables (LTV, BSD bands, ABSD, SSD schedules) live in `fact_tables.py`; `ALL_FACTS` lists both.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from aibroker.domain.mortgage import fact_tables
from aibroker.domain.mortgage._fact import Fact

_D = Decimal

# --- A.1 Debt-servicing limits -------------------------------------------------------------------
_MAS_TDSR = ("MAS explainer 'Calculating TDSR thresholds' "
             "(mas.gov.sg/regulation/explainers/tdsr-for-property-loans/calculating-tdsr-thresholds); "
             "MAS PQ reply 5 Jul 2022")
_MAS_MSR = ("MAS explainer 'MSR and TDSR rules' "
            "(mas.gov.sg/regulation/explainers/new-housing-loans/msr-and-tdsr-rules)")
_HDB_LOAN_PAGE = "hdb.gov.sg 'More information on your HDB housing loan'"
_FLOORS_2022 = "MND/MAS/HDB joint release 29 Sep 2022"

TDSR_LIMIT_PCT = Fact(
    "tdsr_limit", _D(55), "A.1",
    "TDSR: all monthly debt repayments (incl. the new loan) may not exceed 55% of gross monthly income",
    date(2021, 12, 16), "OTP on/after 16 Dec 2021 (60% from 28 Jun 2013 before that)", _MAS_TDSR, "H")

TDSR_EXISTING_LOAN_EXCLUSION = Fact(
    "tdsr_existing_loan_exclusion", None, "A.1",
    "An existing property loan may be left out of TDSR if that property is being sold (e.g. HDB has "
    "approved the sale) or the loan has been discharged",
    None, "current MAS explainer (conditions summarised)", _MAS_TDSR, "H")

MSR_LIMIT_PCT = Fact(
    "msr_limit", _D(30), "A.1",
    "MSR: repayments on all property loans may not exceed 30% of gross monthly income; applies to "
    "HDB flats and to ECs bought from the developer (within MOP)",
    None, "since Jan 2013 for financial institutions; HDB loans also capped at 30%",
    f"{_MAS_MSR}; {_HDB_LOAN_PAGE}", "H")

MSR_GUARANTOR_MIN_PCT = Fact(
    "msr_guarantor_share", _D(20), "A.1",
    "MSR counts at least 20% of the monthly obligation of any property loan the borrower guarantees",
    None, "current MAS rules", _MAS_MSR, "H")

STRESS_FLOOR_BANK_PCT = Fact(
    "stress_floor_bank_residential", _D("4.0"), "A.1",
    "Bank residential loans are assessed (TDSR and MSR) at 4.0% p.a. or the market rate, whichever is "
    "higher, for the loan under application",
    date(2022, 9, 30), "OTP on/after 30 Sep 2022 (3.5% before); owner-occupied refinancing not affected",
    f"MAS PQ reply 20 Oct 2022; {_FLOORS_2022}; Allen & Gledhill note 28 Oct 2022", "H")

STRESS_FLOOR_HDB_PCT = Fact(
    "stress_floor_hdb", _D("3.0"), "A.1",
    "HDB concessionary loans: eligible loan amount computed at 3.0% p.a. or 0.1 pp above the CPF OA "
    "rate, whichever is higher",
    date(2022, 9, 30), "HLE/HFE applications from 30 Sep 2022",
    f"{_FLOORS_2022}; MND written answer 3 Apr 2024", "H")

HDB_STRESS_SPREAD_OVER_OA_PP = Fact(
    "stress_hdb_spread_over_oa", _D("0.1"), "A.1",
    "The HDB stress floor's alternative is the CPF OA rate plus 0.1 percentage point",
    date(2022, 9, 30), "HLE/HFE applications from 30 Sep 2022",
    f"{_FLOORS_2022}; MND written answer 3 Apr 2024", "H")

# --- A.2 Bank-loan tenure and the reduced-LTV triggers ---------------------------------------------
_MAS_LTV = ("MAS explainer 'Loan tenure and loan-to-value limits' "
            "(mas.gov.sg/regulation/explainers/new-housing-loans/loan-tenure-and-loan-to-value-limits)")
_LTV_DATE = date(2018, 7, 6)
_LTV_NOTE = "MAS table for OTP on/after 6 Jul 2018"

BANK_MAX_TENURE_HDB_YEARS = Fact(
    "bank_max_tenure_hdb", 30, "A.2", "Bank loans for HDB flats: maximum tenure 30 years",
    _LTV_DATE, _LTV_NOTE, _MAS_LTV, "H")

BANK_MAX_TENURE_NON_HDB_YEARS = Fact(
    "bank_max_tenure_non_hdb", 35, "A.2", "Bank loans for non-HDB properties: maximum tenure 35 years",
    _LTV_DATE, _LTV_NOTE, _MAS_LTV, "H")

REDUCED_LTV_TENURE_HDB_YEARS = Fact(
    "reduced_ltv_tenure_hdb", 25, "A.2",
    "Reduced LTV applies to HDB flats when the loan tenure exceeds 25 years",
    _LTV_DATE, _LTV_NOTE, _MAS_LTV, "H")

REDUCED_LTV_TENURE_NON_HDB_YEARS = Fact(
    "reduced_ltv_tenure_non_hdb", 30, "A.2",
    "Reduced LTV applies to non-HDB properties when the loan tenure exceeds 30 years",
    _LTV_DATE, _LTV_NOTE, _MAS_LTV, "H")

REDUCED_LTV_AGE = Fact(
    "reduced_ltv_age", 65, "A.2",
    "Reduced LTV applies when the loan period extends beyond age 65 (income-weighted average age "
    "for joint borrowers)",
    _LTV_DATE, _LTV_NOTE, _MAS_LTV, "H")

IWAA_METHOD = Fact(
    "iwaa_method", "sum(age_i * income_i) / sum(income_i)", "A.2",
    "Joint borrowers' age is the income-weighted average age, IWAA = Σ(age × income) / Σ income "
    "(MAS example: 60 y/$8k and 30 y/$10k gives 43.34); we round up to 2 dp as that example does",
    _LTV_DATE, "MAS rule; 2-dp rounding follows the MAS example, bank rounding practice unverified",
    _MAS_LTV, "H")

LTV_ON_LOWER_OF_PRICE_OR_VALUATION = Fact(
    "ltv_base", "min(price, valuation)", "A.2",
    "LTV is applied to the lower of the purchase price or the valuation",
    _LTV_DATE, _LTV_NOTE, _MAS_LTV, "H")

LTV_NON_INDIVIDUAL_PCT = Fact(
    "ltv_non_individual", _D(15), "A.2", "Non-individual or shell-company borrowers: LTV 15%",
    _LTV_DATE, _LTV_NOTE, _MAS_LTV, "H")

# --- A.3 HDB concessionary loan --------------------------------------------------------------------
HDB_LOAN_LTV_PCT = Fact(
    "hdb_loan_ltv", _D(75), "A.3", "HDB concessionary loan: LTV 75%",
    date(2024, 8, 20),
    "resale applications received from 20 Aug 2024; BTO from the Oct 2024 sales exercise "
    "(80% from 30 Sep 2022, 85% from 16 Dec 2021, 90% before)",
    "MND/HDB statement 19 Aug 2024 as reported by Straits Times (20 Aug 2024) and EdgeProp; "
    f"{_FLOORS_2022}", "H")

CPF_OA_RATE_PCT = Fact(
    "cpf_oa_rate", _D("2.5"), "A.7", "CPF Ordinary Account interest rate: 2.5% p.a.",
    None, "current; revised quarterly with CPF rates", _HDB_LOAN_PAGE, "H")

HDB_LOAN_RATE_PCT = Fact(
    "hdb_loan_rate", _D("2.6"), "A.3",
    "HDB concessionary loan rate: 0.1% above the CPF OA rate, currently 2.6% p.a.",
    None, "long-standing; revised Jan/Apr/Jul/Oct with CPF rates",
    f"{_HDB_LOAN_PAGE}; MND release 2022", "H")

HDB_LOAN_MAX_TENURE_YEARS = Fact(
    "hdb_loan_max_tenure", 25, "A.3",
    "HDB loan tenure: the shortest of 25 years, up to age 65, or remaining lease minus 20 years",
    None, "current HDB page", _HDB_LOAN_PAGE, "H")

HDB_LOAN_MAX_AGE = Fact(
    "hdb_loan_max_age", 65, "A.3", "HDB loan must be repaid by age 65",
    None, "current HDB page", _HDB_LOAN_PAGE, "H")

HDB_LOAN_LEASE_BUFFER_YEARS = Fact(
    "hdb_loan_lease_buffer", 20, "A.3",
    "HDB loan tenure may not exceed the remaining lease minus 20 years; no HDB loan if the remaining "
    "lease is 20 years or less",
    None, "current HDB page", _HDB_LOAN_PAGE, "H")

HDB_LOAN_MIN_CASH_PCT = Fact(
    "hdb_loan_min_cash", _D(0), "A.3",
    "HDB loan downpayment (25% at 75% LTV) can be paid fully from CPF OA; no minimum cash",
    None, "current practice", "themoneybees glossary; DBS CPF article (HDB-loan BTO)", "M")

HDB_LOAN_LIFETIME_MAX = Fact(
    "hdb_loan_lifetime_max", 2, "A.3",
    "At most 2 HDB concessionary loans per lifetime (needs an HDB check)",
    None, "HFE letter required since May 2023", "temasekclass; themoneybees; MND PQ 3 Apr 2024", "M")

HDB_LOAN_INCOME_CEILINGS = Fact(
    "hdb_loan_income_ceilings", (("families", _D(14_000)), ("extended families", _D(21_000)),
                                 ("singles", _D(7_000))), "A.3",
    "HDB loan income ceilings (monthly household income): $14,000 families, $21,000 extended "
    "families, $7,000 singles (needs an HDB check)",
    None, "as reported; not verified against hdb.gov.sg", "temasekclass; themoneybees", "M")

# --- A.7 CPF ---------------------------------------------------------------------------------------
_CPF_SRC = "DBS 'Using CPF to buy a house'; EdgeProp CPF guide"

CPF_VALUATION_LIMIT = Fact(
    "cpf_valuation_limit", "min(price, valuation)", "A.7",
    "CPF Valuation Limit (VL): the lower of the purchase price or the valuation at purchase",
    None, "current CPF rules", _CPF_SRC, "H")

CPF_WITHDRAWAL_LIMIT_BANK_PCT = Fact(
    "cpf_withdrawal_limit_bank", _D(120), "A.7",
    "CPF Withdrawal Limit (WL) for bank-loan purchases: 120% of the VL",
    None, "current CPF rules", f"{_CPF_SRC}; CPF Board emails quoted in forums", "H")

CPF_WITHDRAWAL_LIMIT_HDB_RESALE_PCT = Fact(
    "cpf_withdrawal_limit_hdb_resale", _D(100), "A.7",
    "HDB resale flat with an HDB loan: WL = 100% of VL, so any cash-over-valuation is paid in cash",
    None, "needs a check against the CPF site", "DBS article", "M")

CPF_HDB_BTO_NO_LIMIT = Fact(
    "cpf_hdb_bto_no_limit", None, "A.7",
    "BTO flat with an HDB loan: no CPF Valuation or Withdrawal Limit",
    None, "needs a check against the CPF site", "DBS article", "M")

CPF_BEYOND_VL_BRS = Fact(
    "cpf_beyond_vl_brs", None, "A.7",
    "Using CPF beyond the VL (up to the WL) requires setting aside the Basic Retirement Sum",
    None, "wording may have changed after the 2025 SA closure for members aged 55+",
    "EdgeProp CPF guide (2016)", "M")

# --- A.8 Income recognition ------------------------------------------------------------------------
_MAS_2013 = ("MAS TDSR framework 2013 as quoted at mysgrealty.com ('apply a haircut of at least 30% to "
             "all variable income … and rental income'); MAS explainer")

FIXED_INCOME_RECOGNISED_PCT = Fact(
    "income_fixed", _D(100), "A.8", "Fixed salary and fixed allowances are recognised in full (100%)",
    date(2013, 6, 28), "TDSR framework from 28 Jun 2013", f"{_MAS_2013}; broker guides", "H")

VARIABLE_INCOME_RECOGNISED_PCT = Fact(
    "income_variable", _D(70), "A.8",
    "Variable income (bonus, commission, overtime): haircut of at least 30%, so at most 70% recognised",
    date(2013, 6, 28), "TDSR framework from 28 Jun 2013; banks may be stricter", _MAS_2013, "H")

RENTAL_INCOME_RECOGNISED_PCT = Fact(
    "income_rental", _D(70), "A.8",
    "Rental income: haircut of at least 30% (70% recognised); banks usually need a tenancy with at "
    "least 6 months left",
    date(2013, 6, 28), "TDSR framework from 28 Jun 2013", f"{_MAS_2013}; housingloanadvisors; iqrate", "H")

SELF_EMPLOYED_RECOGNISED_PCT = Fact(
    "income_self_employed", _D(70), "A.8",
    "Self-employed income: usually 70% of Notice-of-Assessment income (bank practice)",
    None, "bank practice, not an MAS figure", "findahomeloan; iqrate", "M")

# --- A.9 Formulas and product rounding conventions -------------------------------------------------
INSTALMENT_FORMULA = Fact(
    "instalment_formula", "P*r*(1+r)^n / ((1+r)^n - 1), r = annual rate/12, n = years*12", "A.9",
    "Monthly instalment = P·r(1+r)^n / ((1+r)^n − 1), with r the annual rate / 12 and n the months; "
    "the stress rate is used for eligibility, the quoted rate for indicative payments",
    None, "standard annuity formula", "aibroker FACTS A.9", "H")

LOAN_ROUNDING_STEP = Fact(
    "rounding_loan_down", _D(1000), "A.9",
    "Loan eligibility is rounded down to the nearest $1,000 (product convention, not regulation)",
    None, "legacy NextNest persona convention", "aibroker FACTS A.9 (legacy rounding conventions)", "M")

PAYMENT_ROUNDING_STEP = Fact(
    "rounding_payment_up", _D(1), "A.9",
    "Monthly payments are rounded up to the nearest $1 when quoted (product convention, not regulation)",
    None, "legacy NextNest persona convention", "aibroker FACTS A.9 (legacy rounding conventions)", "M")


ALL_FACTS: tuple[Fact[Any], ...] = tuple(
    value for value in (*dict(globals()).values(), *vars(fact_tables).values()) if isinstance(value, Fact)
)
"""Every fact in this module and `fact_tables`, for the knowledge base and for audits."""

