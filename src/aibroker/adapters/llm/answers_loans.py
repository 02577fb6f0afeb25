"""Offline answers, part 2: borrowing, repayments, debt ratios, LTV, tenure, HDB vs bank, CPF, refinancing.

Same rules as part 1: figures only from calculators or `facts`, each rule with its effective date,
and the inputs that are missing listed rather than assumed. Where an input is assumed to keep the
chat moving (no other loans, a 25-year tenure for an instalment example), the answer says so.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

from aibroker.domain import mortgage as M
from aibroker.domain.customer_facts import CustomerFacts
from aibroker.domain.mortgage import fact_tables as T
from aibroker.domain.mortgage import facts as F
from aibroker.domain.mortgage._fact import Fact

from .answers import Answer, money, pct, short, when
from .tools import downpayment

EXAMPLE_TENURE_YEARS = 25  # an illustration the answer names, not a rule


def monthly(value: Decimal) -> str:
    return money(value.to_integral_value(rounding=ROUND_CEILING))  # FACTS A.9: payments rounded up


def _rule(fact: Fact[Any]) -> str:
    return short(fact.effective_note)


def _borrowers(s: CustomerFacts) -> tuple[list[int], list[Decimal]]:
    """Ages and incomes paired for the IWAA; if they don't pair up, the oldest age and the total income."""
    incomes = list(s.incomes) or [Decimal(1)] * len(s.ages)  # a lone age weighs 1 when income is unknown
    if len(s.ages) == len(incomes):
        return list(s.ages), incomes
    return [max(s.ages)], [sum(incomes, Decimal(0))]


def max_loan(s: CustomerFacts) -> Answer:
    missing = [k for k, v in (("price", s.price), ("income", s.monthly_income), ("age", s.ages or None))
               if v is None]
    if s.loan_kind == "hdb" and s.remaining_lease is None and not s.bto:
        missing.append("lease")
    if s.price is not None and missing:
        return _ltv_cap_first(s, missing)
    if missing or s.price is None:
        return Answer("What you can borrow is the lowest of three limits: the LTV cap on the price, TDSR "
                      f"(all debts within {pct(F.TDSR_LIMIT_PCT.value)} of income) and, for HDB flats and "
                      f"new ECs, MSR ({pct(F.MSR_LIMIT_PCT.value)}); banks test affordability at "
                      f"{pct(F.STRESS_FLOOR_BANK_PCT.value)}.",
                      [F.TDSR_LIMIT_PCT.key, F.MSR_LIMIT_PCT.key, F.STRESS_FLOOR_BANK_PCT.key], True, missing)
    ptype = s.property_type or "Private"
    kind = s.loan_kind or "bank"
    ages, incomes = _borrowers(s)
    lease = s.remaining_lease or (99 if s.bto else None)  # a BTO flat starts with a 99-year lease
    try:
        r = M.max_loan(price=s.price, property_type=ptype, loan_kind=kind, ages=ages, monthly_incomes=incomes,
                       other_monthly_debts=s.monthly_debts or 0, loans_outstanding=s.loans_outstanding or 0,
                       tenure_years=s.tenure_years, quoted_rate_pct=s.rate_pct, remaining_lease_years=lease)
    except ValueError:
        try:  # most often a tenure longer than allowed: take the best allowed one instead
            r = M.max_loan(price=s.price, property_type=ptype, loan_kind=kind, ages=ages,
                           monthly_incomes=incomes, other_monthly_debts=s.monthly_debts or 0,
                           loans_outstanding=s.loans_outstanding or 0, remaining_lease_years=lease)
        except ValueError as error:
            return Answer(f"I can't work that out as asked: {error}.")
    if r.binding_constraint == "tenure":
        return Answer("On these details no loan tenure is possible (age or remaining lease), so a "
                      "specialist should look at your options.", handoff=None).cite(r)
    binding = {
        "ltv": f"the {pct(r.ltv.ltv_pct if r.ltv else 0)} loan-to-value limit",
        "tdsr": f"TDSR: all debts within {pct(r.tdsr.limit_pct)} of income, tested at "
                f"{pct(r.stress_rate_pct)}",
        "msr": f"MSR: property loans within {pct(r.msr.limit_pct if r.msr else 0)} of income, tested at "
               f"{pct(r.stress_rate_pct)}",
    }[r.binding_constraint]
    age = f"{r.tenure.iwaa.normalize():f}"
    who = (f"{money(s.monthly_income or 0)} a month at " + (f"age {age}" if len(ages) == 1
                                                             else f"an income-weighted age of {age}"))
    text = (f"For a {money(r.ltv_base)} {ptype if ptype != 'Private' else 'private'} property on {who}, you "
            f"could borrow up to about {money(r.max_loan)} over {r.tenure_years} years with "
            f"{'an HDB' if kind == 'hdb' else 'a bank'} loan; the limit that binds is {binding}.")
    if r.indicative_monthly_instalment is not None and r.indicative_rate_pct is not None:
        text += (f" That's about {monthly(r.indicative_monthly_instalment)} a month at "
                 f"{pct(r.indicative_rate_pct)}.")
    else:
        text += (f" At the {pct(r.stress_rate_pct)} stress rate that's about "
                 f"{monthly(r.stressed_monthly_instalment)} a month.")
    if s.loans_outstanding is None and s.monthly_debts is None:
        text += " (I've assumed no other loans or monthly debts; tell me if you have any.)"
    return Answer(text, has_figures=True).cite(r)


def _ltv_cap_first(s: CustomerFacts, missing: list[str]) -> Answer:
    """Max loan with the price known but income or age missing: the LTV cap is already a figure."""
    assert s.price is not None
    if s.loan_kind == "hdb":
        cap, key, rule = F.HDB_LOAN_LTV_PCT.value, F.HDB_LOAN_LTV_PCT.key, _rule(F.HDB_LOAN_LTV_PCT)
    else:
        cap = T.BANK_LTV_TIERS.value[min(s.loans_outstanding or 0, 2)].normal_pct
        key, rule = T.BANK_LTV_TIERS.key, _rule(T.BANK_LTV_TIERS)
    loan = downpayment(s.price, cap, None)["max_loan"]
    lender = "An HDB loan" if s.loan_kind == "hdb" else "A bank loan"
    limit = "MSR and TDSR" if s.loan_kind == "hdb" or s.property_type in ("HDB", "EC") else "TDSR"
    return Answer(f"{lender} on {money(s.price)} is capped at {pct(cap)} LTV, {money(loan)} ({rule}); "
                  f"your income and age decide whether {limit} bring it lower.", [key], True, missing)


def income(s: CustomerFacts) -> Answer:
    """FACTS A.8: fixed income counts in full, variable income after at least a 30% haircut."""
    fixed = s.monthly_income
    if fixed is None and s.variable_income is None:
        share = F.VARIABLE_INCOME_RECOGNISED_PCT.value
        return Answer(f"Banks count fixed salary in full, and variable income such as bonus or commission after "
                      f"a haircut of at least {pct(100 - share)}, so at most {pct(share)} of it "
                      f"({_rule(F.VARIABLE_INCOME_RECOGNISED_PCT)}).",
                      [F.VARIABLE_INCOME_RECOGNISED_PCT.key], True, ["income"])
    r = M.recognised_monthly_income(fixed=fixed or 0, variable=s.variable_income or 0)
    text = f"Banks would count about {money(r.recognised_monthly_income)} a month"
    if s.variable_income:
        text += (f": {money(r.fixed)} fixed in full plus {money(r.variable_recognised)}, the "
                 f"{pct(F.VARIABLE_INCOME_RECOGNISED_PCT.value)} of your {money(s.variable_income)} variable "
                 "income they may recognise")
    return Answer(text + f" ({_rule(F.VARIABLE_INCOME_RECOGNISED_PCT)}).", has_figures=True).cite(r)


def instalment(s: CustomerFacts) -> Answer:
    if s.loan_amount is None:
        return Answer("Happy to work out the monthly instalment.", missing=["loan_amount"])
    years = s.tenure_years or EXAMPLE_TENURE_YEARS
    caveat = "" if s.tenure_years else f" (over {years} years; tell me if you prefer another tenure)"
    if s.rate_pct is not None:
        rate, basis = s.rate_pct, ""
    elif s.loan_kind == "hdb":
        rate, basis = F.HDB_LOAN_RATE_PCT.value, " the HDB loan rate of"
    else:
        stress = M.stress_rate("bank")
        rate = stress.rate_pct
        basis = " the stress-test rate of"
        caveat += (f". I can't quote live bank rates, so I used the {pct(rate)} rate banks assess you at "
                   f"({(when(stress, 'stress_floor_bank_residential'))}); tell me your quoted rate for an "
                   "exact figure")
    r = M.monthly_instalment(s.loan_amount, rate, years)
    return Answer(f"A {money(r.principal)} loan over {r.years} years at{basis} {pct(rate)} works out to "
                  f"about {monthly(r.monthly_payment)} a month{caveat}.", has_figures=True).cite(r)


def debt_ratio(s: CustomerFacts, kind: str) -> Answer:
    fact = F.TDSR_LIMIT_PCT if kind == "TDSR" else F.MSR_LIMIT_PCT
    scope = ("all your monthly debt repayments, including the new home loan," if kind == "TDSR" else
             "repayments on all your property loans (for HDB flats and ECs bought from the developer)")
    text = f"{kind} caps {scope} at {pct(fact.value)} of gross monthly income ({_rule(fact)})."
    income = s.monthly_income
    if income is None:
        return Answer(text, [fact.key], True, ["income"])
    debts = s.monthly_debts or 0
    r = M.tdsr_check(income, other_monthly_debts=debts) if kind == "TDSR" else M.msr_check(income)
    text += f" On {money(income)} a month that's {money(r.limit_amount)}"
    if kind == "TDSR" and debts:
        text += (f"; after your {money(debts)} of other debts, {money(r.budget_for_new_loan)} is left for "
                 "the mortgage")
    stress = F.STRESS_FLOOR_BANK_PCT
    text += f", with the new loan tested at {pct(stress.value)} for bank loans."
    answer = Answer(text, has_figures=True).cite(r)
    answer.facts.append(stress.key)
    return answer


def stress_rate(s: CustomerFacts) -> Answer:
    bank, hdb = M.stress_rate("bank"), M.stress_rate("hdb")
    return Answer(f"Banks must assess residential loans at {pct(bank.floor_pct)} p.a. or the market rate, "
                  f"whichever is higher ({(when(bank, 'stress_floor_bank_residential'))}); HDB loans are "
                  f"assessed at {pct(hdb.floor_pct)}, the higher of {pct(F.STRESS_FLOOR_HDB_PCT.value)} and "
                  f"the CPF OA rate plus {F.HDB_STRESS_SPREAD_OVER_OA_PP.value} point.",
                  has_figures=True).cite(bank, hdb)


def ltv(s: CustomerFacts) -> Answer:
    if s.loan_kind == "hdb":
        fact = F.HDB_LOAN_LTV_PCT
        text = (f"An HDB loan covers up to {pct(fact.value)} of the price ({short(fact.effective_note)}); "
                "the rest can come from your CPF OA, with no minimum cash.")
        cap, cash, facts = fact.value, F.HDB_LOAN_MIN_CASH_PCT.value, [fact.key, F.HDB_LOAN_MIN_CASH_PCT.key]
    else:
        loans = s.loans_outstanding or 0
        tier = T.BANK_LTV_TIERS.value[min(loans, 2)]
        cap, cash, facts = tier.normal_pct, tier.min_cash_normal_pct, [T.BANK_LTV_TIERS.key]
        if s.ages:
            ages, incomes = _borrowers(s)
            t = M.max_tenure(s.property_type or "Private", "bank", ages, incomes)
            years = s.tenure_years or max(1, t.normal_ltv_max_years or t.max_years)  # the customer's, if given
            r = M.ltv_limit(loans, years, t.iwaa, s.property_type == "HDB", "bank")
            cap, cash = r.ltv_pct, r.min_cash_pct or cash
        loans_text = {0: "no outstanding housing loan", 1: "one outstanding housing loan"}.get(
            loans, "two or more outstanding housing loans")
        text = (f"With {loans_text}, banks can lend up to {pct(cap)} of the price or valuation, with at "
                f"least {pct(cash)} in cash ({_rule(T.BANK_LTV_TIERS)}); it drops to "
                f"{pct(tier.reduced_pct)} if the loan runs past age {F.REDUCED_LTV_AGE.value} or beyond "
                f"{F.REDUCED_LTV_TENURE_NON_HDB_YEARS.value} years ({F.REDUCED_LTV_TENURE_HDB_YEARS.value} "
                "for HDB flats).")
    answer = Answer(text, facts, True, [] if s.loans_outstanding is not None or s.loan_kind == "hdb"
                    else ["loans"])
    if s.price is not None:  # the figure first, the rule after it
        amounts = downpayment(s.price, cap, cash)
        answer.text = (f"On {money(s.price)}: loan up to {money(amounts['max_loan'])} ({pct(cap)} LTV), "
                       f"downpayment {money(amounts['downpayment'])}"
                       + (f", at least {money(amounts['min_cash'])} of it in cash. " if cash else ". ")
                       + answer.text)
    return answer


def tenure(s: CustomerFacts) -> Answer:
    if not s.ages:
        return Answer(f"Bank loans can run up to {F.BANK_MAX_TENURE_NON_HDB_YEARS.value} years for private "
                      f"property and {F.BANK_MAX_TENURE_HDB_YEARS.value} for HDB flats "
                      f"({_rule(F.BANK_MAX_TENURE_HDB_YEARS)}); HDB loans up to "
                      f"{F.HDB_LOAN_MAX_TENURE_YEARS.value} years, ending by age {F.HDB_LOAN_MAX_AGE.value}.",
                      [F.BANK_MAX_TENURE_NON_HDB_YEARS.key, F.HDB_LOAN_MAX_TENURE_YEARS.key], False, ["age"])
    ages, incomes = _borrowers(s)
    kind = s.loan_kind or "bank"
    ptype = s.property_type or ("HDB" if kind == "hdb" else "Private")
    try:
        t = M.max_tenure(ptype, kind, ages, incomes, s.remaining_lease or (99 if s.bto else None))
    except ValueError as error:
        return Answer(f"I need one more detail for that: {error}.", missing=["lease"])
    lender = "an HDB" if kind == "hdb" else "a bank"
    text = f"At age {t.iwaa.normalize():f}, {lender} loan can run up to {t.max_years} years"
    if t.normal_ltv_max_years is not None and t.normal_ltv_max_years < t.max_years:
        text += (f"; to keep the full LTV it should end by age {F.REDUCED_LTV_AGE.value}, i.e. "
                 f"{t.normal_ltv_max_years} years")
    return Answer(text + ".").cite(t)


def hdb_vs_bank(s: CustomerFacts) -> Answer:
    families = dict(F.HDB_LOAN_INCOME_CEILINGS.value)["families"]
    bank = T.BANK_LTV_TIERS.value[0]
    facts: list[Fact[Any]] = [F.HDB_LOAN_RATE_PCT, F.HDB_LOAN_LTV_PCT, F.HDB_LOAN_MIN_CASH_PCT,
                              F.HDB_LOAN_INCOME_CEILINGS, T.BANK_LTV_TIERS, F.STRESS_FLOOR_BANK_PCT]
    return Answer(f"An HDB loan charges {pct(F.HDB_LOAN_RATE_PCT.value)} (pegged to the CPF OA rate, revised "
                  f"quarterly) and lends up to {pct(F.HDB_LOAN_LTV_PCT.value)} "
                  f"({_rule(F.HDB_LOAN_LTV_PCT)}) with no minimum cash, for families earning up to "
                  f"{money(families)} a month. A bank loan also lends up to {pct(bank.normal_pct)} but "
                  f"needs at least {pct(bank.min_cash_normal_pct)} in cash and is tested at "
                  f"{pct(F.STRESS_FLOOR_BANK_PCT.value)}; I can't quote live bank rates, but a specialist "
                  "can compare current packages.", [f.key for f in facts], True)


def cpf(s: CustomerFacts) -> Answer:
    kind = s.loan_kind or "bank"
    edge = (" If the lease won't cover the youngest buyer to age 95, CPF use is pro-rated; a specialist can "
            "check that.")
    if s.price is None:
        return Answer("With a bank loan, CPF OA can pay up to the Valuation Limit (the lower of price or "
                      f"valuation), and up to {pct(F.CPF_WITHDRAWAL_LIMIT_BANK_PCT.value)} of it (the "
                      "Withdrawal Limit) once you set aside the Basic Retirement Sum." + edge,
                      [F.CPF_WITHDRAWAL_LIMIT_BANK_PCT.key, "cpf_lease_age_95"], True, ["price"])
    r = M.cpf_limits(s.price, loan_kind=kind, hdb_bto=bool(s.bto))
    if r.valuation_limit is None or r.withdrawal_limit is None or r.withdrawal_limit_pct is None:
        text = ("For a BTO flat with an HDB loan there's no CPF Valuation or Withdrawal Limit: your OA can "
                "pay the downpayment and the instalments.")
    elif kind == "hdb":
        text = ("With an HDB loan on a resale flat, CPF OA can pay up to the Valuation Limit "
                f"({money(r.valuation_limit)}, the lower of price or valuation); any cash-over-valuation is "
                "cash.")
    else:
        text = (f"With a bank loan, CPF OA can pay up to the Valuation Limit ({money(r.valuation_limit)}, "
                "the lower of price or valuation), and up to the Withdrawal Limit of "
                f"{pct(r.withdrawal_limit_pct)} of it ({money(r.withdrawal_limit)}) once you set aside the "
                "Basic Retirement Sum.")
    return Answer(text + edge, has_figures=True).cite(r)


def refinancing(s: CustomerFacts) -> Answer:
    text = ""
    answer = Answer()
    if s.loan_amount is not None and s.rate_pct is not None and s.tenure_years is not None:
        r = M.monthly_instalment(s.loan_amount, s.rate_pct, s.tenure_years)
        text = (f"On {money(r.principal)} at {pct(r.annual_rate_pct)} with {r.years} years left, you're "
                f"paying about {monthly(r.monthly_payment)} a month. ")
        answer = Answer(has_figures=True).cite(r)
    else:
        answer.missing.append("refi")
    if s.lock_in_months:
        text += (f"You still have {s.lock_in_months} months of lock-in; switching before it ends usually "
                 "costs a penalty, so we'd time the switch near its end. ")
    answer.text = text + ("I can't quote live bank packages here, but a specialist can compare current "
                          "offers for you.")
    return answer
