"""Evaluation table: mortgage questions with the figures a correct answer must state.

Each expected figure was worked out from FACTS.md §A by hand (the comment says how), not read back
from the calculators, so the table checks them too. `tool_calls` is what a good model would call
for the LLM path, and `llm_text` the final answer it would write, citing the tool results; the
evaluation checks that the figures really are in those tool results and survive the guard.
`phrases` are non-figure facts (years) that must appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ToolCall = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Case:
    name: str
    question: str
    expected: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...]
    llm_text: str
    phrases: tuple[str, ...] = ()
    history: tuple[tuple[str, str], ...] = ()
    lead: dict[str, Any] | None = None


def _bsd(price: int) -> ToolCall:
    return ("buyer_stamp_duty", {"price": price})


def _absd(price: int, profile: str, count: int) -> ToolCall:
    return ("additional_buyer_stamp_duty",
            {"price": price, "profile": profile, "property_count_after_purchase": count})


def _lookup(query: str) -> ToolCall:
    return ("lookup_facts", {"query": query})


def _loan(price: int, ptype: str, age: int, income: int, kind: str = "bank", **extra: Any) -> ToolCall:
    return ("max_loan", {"price": price, "property_type": ptype, "loan_kind": kind, "ages": [age],
                         "monthly_incomes": [income], **extra})


CASES: tuple[Case, ...] = (
    # --- BSD (A.4): 3%·P − 5,400 up to $1M; 4%·P − 15,400 to $1.5M; 5%·P − 30,400 to $3M; 6%·P − 60,400
    Case("bsd_1_2m", "What's the BSD on a $1.2m condo?", ("S$32,600",), (_bsd(1_200_000),),
         "Buyer's Stamp Duty on S$1,200,000 is S$32,600, for documents executed on/after 15 Feb 2023."),
    Case("bsd_800k", "How much stamp duty for an $800k flat?", ("S$18,600",), (_bsd(800_000),),
         "BSD on S$800,000 comes to S$18,600 (rates from 15 Feb 2023)."),
    Case("bsd_2_5m", "BSD for a S$2.5 million landed house?", ("S$94,600",), (_bsd(2_500_000),),
         "For S$2,500,000 the BSD is S$94,600."),
    Case("bsd_500k", "buyer's stamp duty on 500,000?", ("S$9,600",), (_bsd(500_000),),
         "BSD on S$500,000 is S$9,600."),
    Case("bsd_4m", "BSD on a $4m bungalow", ("S$179,600",), (_bsd(4_000_000),),
         "BSD on S$4,000,000 is S$179,600; the 6% band applies above S$3,000,000."),
    Case("bsd_from_lead", "what's the stamp duty on my purchase?", ("S$44,600",), (_bsd(1_500_000),),
         "BSD on your S$1,500,000 purchase is S$44,600.",
         lead={"name": "Alex Tan", "email": "alex@example.com", "loanType": "new_purchase",
               "propertyType": "Private", "propertyPrice": 1_500_000}),
    # --- ABSD (A.5, from 27 Apr 2023): SC 0/20/30, PR 5/30/35
    Case("absd_sc_2nd", "I'm a Singapore citizen buying my second property at $1m, what's the ABSD?",
         ("20%", "S$200,000"), (_absd(1_000_000, "citizen", 2),),
         "As a Singapore Citizen buying a second home, ABSD is 20%: S$200,000 on S$1,000,000."),
    Case("absd_pr_1st", "ABSD for a PR buying a first home at 800k?", ("5%", "S$40,000"),
         (_absd(800_000, "pr", 1),), "For a PR's first home ABSD is 5%, so S$40,000 on S$800,000."),
    Case("absd_sc_3rd", "Singaporean buying a third property for $1.5m, how much ABSD?", ("30%", "S$450,000"),
         (_absd(1_500_000, "citizen", 3),), "A third property for a Singapore Citizen: ABSD 30%, S$450,000."),
    Case("absd_pr_2nd", "ABSD if I'm a PR and this is my second property, price 1,000,000", ("30%", "S$300,000"),
         (_absd(1_000_000, "pr", 2),), "PRs pay 30% ABSD on a second property: S$300,000."),
    Case("absd_sc_1st", "ABSD for a citizen buying a first home at 900k?", ("0%",),
         (_absd(900_000, "citizen", 1),), "Good news: a Singapore Citizen's first home has 0% ABSD."),
    # --- SSD (A.6): bought from 4 Jul 2025 16/12/8/4; 11 Mar 2017 – 3 Jul 2025 12/8/4/0
    Case("ssd_2025_schedule", "bought on 10 Aug 2025, selling on 1 Sep 2026 for $1,000,000, how much SSD?",
         ("12%", "S$120,000"),
         (("seller_stamp_duty", {"selling_price": 1_000_000, "purchase_date": "2025-08-10",
                                 "sale_date": "2026-09-01"}),),
         "Held over 1 to 2 years and bought after 4 Jul 2025, SSD is 12%: S$120,000."),
    Case("ssd_2017_schedule", "I bought on 1 Jan 2024 and will sell on 1 Jun 2026 at $1.2m, SSD?",
         ("4%", "S$48,000"),
         (("seller_stamp_duty", {"selling_price": 1_200_000, "purchase_date": "2024-01-01",
                                 "sale_date": "2026-06-01"}),),
         "Bought before 4 Jul 2025 and held over 2 to 3 years: SSD is 4%, S$48,000."),
    Case("ssd_none", "SSD if I bought on 1 Mar 2020 and sell on 1 Nov 2026 for 1m?", ("0%",),
         (("seller_stamp_duty", {"selling_price": 1_000_000, "purchase_date": "2020-03-01",
                                 "sale_date": "2026-11-01"}),),
         "After more than 3 years on the 2017 schedule, SSD is 0%."),
    Case("ssd_buy_now_sell_in_2y", "If I buy a condo now at 1.5m and sell after 2 years, what's the SSD?",
         ("12%", "S$180,000"),
         (("seller_stamp_duty", {"selling_price": 1_500_000, "purchase_date": "2026-11-22",
                                 "sale_date": "2028-11-22"}),),
         "Selling within 2 years of a purchase made now means SSD of 12%: S$180,000 on S$1,500,000."),
    # --- Max loan (A.2, A.1, A.9): min(LTV cap, PV of TDSR/MSR budget at the stress rate), floored to $1,000
    Case("max_loan_ltv_bound", "How much can I borrow? I earn 10k a month, age 35, condo price 800k",
         ("S$600,000", "75%"), (_loan(800_000, "Private", 35, 10_000),),
         "You could borrow up to S$600,000: the 75% LTV cap binds before TDSR."),
    # TDSR 55% × 5,000 = 2,750/month at 4% over 35 years (reduced tier, 55% LTV = 660k) → PV 621,xxx
    Case("max_loan_tdsr_bound", "How much can I borrow for a $1.2m condo? I earn $5,000 a month and I'm 35",
         ("S$621,000", "55%", "4%"), (_loan(1_200_000, "Private", 35, 5_000),),
         "Up to about S$621,000: TDSR binds (55% of income, tested at 4%)."),
    Case("max_loan_hdb_ltv", "How much HDB loan can I get for a $500k BTO flat? I earn 6k a month, age 30",
         ("S$375,000", "75%"), (_loan(500_000, "HDB", 30, 6_000, "hdb", remaining_lease_years=99),),
         "An HDB loan of up to S$375,000 (75% LTV)."),
    # MSR 30% × 4,000 = 1,200/month at 3% (HDB floor) over 25 years → PV 253,xxx
    Case("max_loan_hdb_msr", "HDB loan for a $600k BTO flat, income 4k a month, age 30, how much can I borrow?",
         ("S$253,000", "30%"), (_loan(600_000, "HDB", 30, 4_000, "hdb", remaining_lease_years=99),),
         "About S$253,000: MSR (30% of income) is the limit here."),
    Case("max_loan_remembered", "35", ("S$600,000",), (_loan(800_000, "Private", 35, 10_000),),
         "With S$10,000 a month at 35, you could borrow up to S$600,000 on the S$800,000 condo.",
         history=(("customer", "How much can I borrow?"),
                  ("bot", "Could you share the property price and your gross monthly income?"),
                  ("customer", "It's a condo, price is $800k, I earn 10k a month"),
                  ("bot", "Thanks! And how old are you?"))),
    # --- Instalments (A.9): P·r(1+r)^n / ((1+r)^n − 1), rounded up to the dollar
    Case("instalment_given_rate", "monthly instalment for a $600k loan over 25 years at 3.5%", ("S$3,004",),
         (("monthly_instalment", {"principal": 600_000, "annual_rate_pct": 3.5, "years": 25}),),
         "About S$3,004 a month."),
    Case("instalment_stress_rate", "monthly repayment for a 500k loan over 30 years", ("S$2,388", "4%"),
         (("stress_test_rate", {"loan_kind": "bank"}),
          ("monthly_instalment", {"principal": 500_000, "annual_rate_pct": 4, "years": 30})),
         "At the 4% stress-test rate that's about S$2,388 a month; I can't quote live bank rates."),
    Case("instalment_hdb_rate", "monthly instalment for an HDB loan of $400k over 25 years", ("S$1,815", "2.6%"),
         (("lookup_facts", {"query": "HDB loan interest rate"}),
          ("monthly_instalment", {"principal": 400_000, "annual_rate_pct": 2.6, "years": 25})),
         "At the HDB rate of 2.6%, about S$1,815 a month."),
    Case("refinance_current_instalment", "I want to refinance my 450k loan at 3.8% with 20 years left",
         ("S$2,680",), (("monthly_instalment", {"principal": 450_000, "annual_rate_pct": 3.8, "years": 20}),),
         "You're paying about S$2,680 a month now; a specialist can compare current packages."),
    # --- TDSR / MSR / stress rate (A.1)
    Case("tdsr_budget", "What's my TDSR limit on an $8,000 monthly income?", ("55%", "S$4,400"),
         (("tdsr_check", {"monthly_income": 8000}),), "TDSR is 55%: S$4,400 a month for all debts."),
    Case("tdsr_after_debts", "TDSR on 8k income with a car loan of $800 a month", ("S$3,600",),
         (("tdsr_check", {"monthly_income": 8000, "other_monthly_debts": 800}),),
         "After the S$800 car loan, S$3,600 is left for the mortgage."),
    Case("msr_budget", "What's the MSR on a $6,000 monthly salary?", ("30%", "S$1,800"),
         (("msr_check", {"monthly_income": 6000}),), "MSR is 30%: S$1,800 a month for property loans."),
    Case("tdsr_rule", "What is TDSR?", ("55%",), (_lookup("TDSR limit"),),
         "TDSR caps all monthly debt repayments at 55% of gross income (OTP on/after 16 Dec 2021)."),
    Case("msr_rule", "What is MSR?", ("30%",), (_lookup("MSR limit"),),
         "MSR caps property loan repayments at 30% of gross monthly income."),
    Case("stress_rate", "what's the stress test rate for a bank loan?", ("4%", "3%"),
         (("stress_test_rate", {"loan_kind": "bank"}), ("stress_test_rate", {"loan_kind": "hdb"})),
         "Banks assess at 4% (OTP on/after 30 Sep 2022); HDB loans at 3%."),
    # --- LTV and downpayment (A.2, A.3)
    Case("ltv_first_loan", "What's the downpayment for a $800k condo? No existing housing loans, I'm 35.",
         ("75%", "S$600,000", "S$200,000", "S$40,000"),
         (("loan_to_value", {"loans_outstanding": 0, "tenure_years": 30, "age": 35, "property_is_hdb": False,
                             "price": 800_000}),),
         "75% LTV: loan up to S$600,000, downpayment S$200,000 with at least S$40,000 in cash."),
    Case("ltv_one_loan", "I still have one housing loan. What's the LTV on a $1m condo? I'm 40.",
         ("45%", "S$450,000", "25%"),
         (("loan_to_value", {"loans_outstanding": 1, "tenure_years": 25, "age": 40, "property_is_hdb": False,
                             "price": 1_000_000}),),
         "With one outstanding loan the LTV is 45%: up to S$450,000, and at least 25% in cash."),
    Case("ltv_hdb_loan", "What's the LTV for an HDB loan on a $500k flat? I'm 30.", ("75%", "S$375,000"),
         (("loan_to_value", {"loans_outstanding": 0, "tenure_years": 25, "age": 30, "property_is_hdb": True,
                             "loan_kind": "hdb", "price": 500_000}),),
         "An HDB loan covers 75% (from 20 Aug 2024): up to S$375,000."),
    # --- HDB loan facts (A.3) and CPF (A.7)
    Case("hdb_loan_rate", "What's the HDB loan interest rate?", ("2.6%",), (_lookup("HDB loan interest rate"),),
         "The HDB loan rate is 2.6%, 0.1% above the CPF OA rate."),
    Case("hdb_vs_bank", "HDB loan vs bank loan, which is better?", ("2.6%", "75%", "S$14,000"),
         (_lookup("HDB loan interest rate"), _lookup("HDB loan LTV"), _lookup("HDB loan income ceiling")),
         "HDB loans charge 2.6% and lend 75%, for families earning up to S$14,000; I can't quote bank rates."),
    Case("cpf_withdrawal_limit", "Can I use CPF for a $800k condo with a bank loan?",
         ("120%", "S$960,000", "S$800,000"),
         (("cpf_limits", {"purchase_price": 800_000, "loan_kind": "bank"}),),
         "CPF can pay up to the S$800,000 VL and, with the BRS set aside, up to 120%: S$960,000."),
    Case("cpf_rule", "What is the CPF withdrawal limit?", ("120%",), (_lookup("CPF withdrawal limit"),),
         "For bank-loan purchases the Withdrawal Limit is 120% of the Valuation Limit."),
    Case("variable_income", "How is variable income like bonus treated by banks?", ("70%", "30%"),
         (_lookup("variable income bonus"),), "At least a 30% haircut, so at most 70% of bonus counts."),
    # --- Tenure (A.2, A.3): bank 35 years non-HDB; normal LTV only to age 65; HDB min(25, 65 − age, lease − 20)
    Case("tenure_bank", "How long can my loan tenure be? I'm 45", (), (
        ("max_tenure", {"property_type": "Private", "ages": [45], "monthly_incomes": [8000]}),),
         "Up to 35 years, but ending by 65 keeps the full LTV: 20 years.", phrases=("35 years", "20 years")),
    Case("tenure_hdb", "max HDB loan tenure if I'm 50 and the flat has 80 years of lease?", (), (
        ("max_tenure", {"property_type": "HDB", "loan_kind": "hdb", "ages": [50], "monthly_incomes": [6000],
                        "remaining_lease_years": 80}),),
         "An HDB loan can run 15 years here, to age 65.", phrases=("15 years",)),
)
