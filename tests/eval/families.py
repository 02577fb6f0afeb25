"""Evaluation families, written from FACTS §A (not from the responder): one question, five or more phrasings.

A family names the FACTS rule, the inputs the customer gives and what a correct answer must state;
the figures themselves are computed by calling the calculators in the test (`expect`), never stored
here as strings. Each phrasing is one conversation: the customer's turns in order (the responder
answers every turn, so earlier turns are real memory) and, for some, the lead form.

Styles: terse, chatty, singlish, words (numbers in words), spread (inputs over two or three turns
and the form). Today, for durations, is 22 Nov 2026 (`tests.adapters.llm.support.NOW`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Style = Literal["terse", "chatty", "singlish", "words", "spread"]
Kind = Literal["figures", "ask", "handoff"]


@dataclass(frozen=True)
class Phrasing:
    style: Style
    turns: tuple[str, ...]
    lead: dict[str, Any] | None = None


@dataclass(frozen=True)
class Family:
    name: str
    rule: str  # the FACTS §A section and rule, for the per-rule report
    calc: Calc  # the calculator and its inputs: the test runs it for the expected figures
    phrasings: tuple[Phrasing, ...]
    kind: Kind = "figures"
    ask: str = ""  # for kind "ask": a word the one question must contain
    figures: tuple[str, ...] = ()  # result fields to state, when not the calculator's usual ones


def lead(*, price: int | None = None, incomes: tuple[int, ...] = (), ages: tuple[int, ...] = (),
         ptype: str = "Private", loan: str = "new_purchase", **extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = {"name": "Wei Ming Tan", "email": "wm@example.com", "loanType": loan,
                            "propertyType": ptype, "actualIncomes": list(incomes), "actualAges": list(ages),
                            **extra}
    if price is not None:
        form["propertyPrice"] = price
    return form


def P(style: Style, *turns: str, form: dict[str, Any] | None = None) -> Phrasing:
    return Phrasing(style, turns, form)


def F(name: str, rule: str, calc: Calc, *phrasings: Phrasing, kind: Kind = "figures",
      ask: str = "", figures: tuple[str, ...] = ()) -> Family:
    return Family(name, rule, calc, phrasings, kind, ask, figures)


BSD = "A.4 BSD"
ABSD = "A.5 ABSD"
SSD = "A.6 SSD"
TDSR = "A.1 TDSR"
MSR = "A.1 MSR"
FLOOR = "A.1 stress rate"
LTV = "A.2 LTV"
TENURE = "A.2 tenure"
HDB = "A.3 HDB loan"
PAY = "A.9 instalment"
LOAN = "A.9 max loan"
CPF = "A.7 CPF"
INCOME = "A.8 income"
HANDOFF = "A.11 handoff"


Calc = tuple[str, dict[str, Any]]  # a calculator tool (`aibroker.adapters.llm.tools.TOOLS`) and its inputs


def bsd(price: int) -> Calc:
    return ("buyer_stamp_duty", {"price": price})


def absd(price: int, profile: str, count: int) -> Calc:
    return ("additional_buyer_stamp_duty", {"price": price, "profile": profile,
                                            "property_count_after_purchase": count})


def ssd(price: int, bought: str, sold: str) -> Calc:
    return ("seller_stamp_duty", {"selling_price": price, "purchase_date": bought, "sale_date": sold})


def max_loan(price: int, ages: list[int], incomes: list[int], ptype: str = "Private", kind: str = "bank",
             **extra: Any) -> Calc:
    return ("max_loan", {"price": price, "property_type": ptype, "loan_kind": kind, "ages": ages,
                         "monthly_incomes": incomes, **extra})


def ltv(price: int, loans: int, age: int, tenure: int, *, hdb: bool = False) -> Calc:
    return ("loan_to_value", {"price": price, "loans_outstanding": loans, "age": age, "tenure_years": tenure,
                              "property_is_hdb": hdb, "loan_kind": "hdb" if hdb else "bank"})


def tenure(ptype: str, kind: str, age: int, lease: int | None = None) -> Calc:
    return ("max_tenure", {"property_type": ptype, "loan_kind": kind, "ages": [age], "monthly_incomes": [1],
                           "remaining_lease_years": lease})


def instalment(principal: int, rate: float, years: int) -> Calc:
    return ("monthly_instalment", {"principal": principal, "annual_rate_pct": rate, "years": years})


NONE: Calc = ("none", {})

FAMILIES: tuple[Family, ...] = (
    # --- A.4 BSD: marginal bands on the price --------------------------------------------------------
    F("bsd_1_2m", BSD, bsd(1_200_000),
      P("terse", "BSD $1.2m condo?"),
      P("chatty", "Hi there! We're looking at a condo going for S$1.2 million. How much buyer's stamp duty "
                  "would we have to pay?"),
      P("singlish", "eh how much stamp duty for 1.2 mil condo ah"),
      P("words", "What's the stamp duty on a one point two million dollar condo?"),
      P("spread", "We found a condo we like", "price is 1,200k", "so how much is the stamp duty?")),
    F("bsd_850k", BSD, bsd(850_000),
      P("terse", "stamp duty 850k resale flat"),
      P("chatty", "My partner and I are buying an HDB resale at $850,000, what would the buyer's stamp duty "
                  "come to?"),
      P("singlish", "buying resale flat 850k, bsd how much leh"),
      P("words", "Buyer's stamp duty for an eight hundred and fifty thousand dollar flat?"),
      P("spread", "what's the buyer stamp duty on my flat?", form=lead(price=850_000, ptype="HDB"))),
    F("bsd_2_2m", BSD, bsd(2_200_000),
      P("terse", "BSD on S$2.2m?"),
      P("chatty", "Could you tell me how much buyer's stamp duty I'd pay on a landed home at $2,200,000?"),
      P("singlish", "landed 2.2m, stamp duty ah?"),
      P("words", "stamp duty for a two point two million landed house please"),
      P("spread", "thinking of a terrace house", "2.2 mil", "what's the BSD?")),
    F("bsd_3_5m", BSD, bsd(3_500_000),
      P("terse", "BSD for $3.5m"),
      P("chatty", "We're eyeing a good class bungalow at S$3.5 million; what would the buyer's stamp duty be?"),
      P("singlish", "bungalow 3.5m how much bsd sia"),
      P("words", "buyer's stamp duty on three and a half million dollars?"),
      P("spread", "what's the stamp duty", form=lead(price=3_500_000, ptype="Landed"))),
    # --- A.5 ABSD: by profile and count, answered for every profile ----------------------------------
    F("absd_sc_2nd", ABSD, absd(1_500_000, "citizen", 2),
      P("terse", "ABSD SC 2nd property $1.5m"),
      P("chatty", "I'm a Singapore citizen and I already own one home. If I buy a second one at $1.5m, how "
                  "much ABSD is that?"),
      P("singlish", "SC leh, buying my second property 1.5m, absd how much"),
      P("words", "I'm Singaporean buying my second property for one and a half million, what's the ABSD?"),
      P("spread", "I'm a Singapore citizen", "I already own one condo", "the new one is 1.5m, how much ABSD?")),
    F("absd_sc_3rd", ABSD, absd(2_000_000, "citizen", 3),
      P("terse", "ABSD citizen third property 2m"),
      P("chatty", "We're Singaporeans who own two properties already. What ABSD applies if we buy another "
                  "at $2,000,000?"),
      P("singlish", "citizen, own 2 houses liao, 3rd one 2m absd?"),
      P("words", "citizen, third property, two million dollars: how much ABSD?"),
      P("spread", "ABSD question", "we're citizens and this will be our third property", "price is $2m")),
    F("absd_pr_1st", ABSD, absd(900_000, "pr", 1),
      P("terse", "ABSD PR first home 900k"),
      P("chatty", "I'm a permanent resident buying my first home in Singapore for $900,000. What ABSD do I pay?"),
      P("singlish", "PR buying first home 900k, got absd or not?"),
      P("words", "I'm a PR buying my first property at nine hundred thousand; ABSD?"),
      P("spread", "I'm a PR", "first time buying, no property now", "it's 900k, how much ABSD?")),
    F("absd_pr_2nd", ABSD, absd(1_200_000, "pr", 2),
      P("terse", "ABSD PR second property $1.2m"),
      P("chatty", "My wife and I are PRs and own a flat. We want a condo at S$1.2 million as our second "
                  "property: how much ABSD?"),
      P("singlish", "we PR, got one flat already, buying 2nd one 1.2m, absd?"),
      P("words", "PR, second property, one point two million: what's the additional buyer's stamp duty?"),
      P("spread", "how much ABSD do we pay?", "we're PRs and this is our second property",
        form=lead(price=1_200_000))),
    F("absd_foreigner", ABSD, absd(2_000_000, "foreigner", 1),
      P("terse", "ABSD for foreigner, $2m condo?"),
      P("chatty", "I'm a foreigner working here on an employment pass. What ABSD would I pay on a $2m condo?"),
      P("singlish", "foreigner buy condo 2m absd how much ah"),
      P("words", "What's the ABSD rate for a foreign buyer on a two million dollar condo?"),
      P("spread", "I'm a foreigner", "looking at a 2m condo", "how much is the ABSD?")),
    F("absd_sc_1st", ABSD, absd(1_000_000, "citizen", 1),
      P("terse", "ABSD SC first home $1m"),
      P("chatty", "First-time buyer here, Singapore citizen, condo at $1,000,000. Do I pay ABSD?"),
      P("singlish", "SC first property 1m, need pay absd anot"),
      P("words", "Singapore citizen, first home, one million dollars: is there ABSD?"),
      P("spread", "I'm Singaporean and don't own any property", "the condo is $1m", "any ABSD?")),
    # --- A.6 SSD: holding period from the purchase, old and new schedules ---------------------------
    F("ssd_8_months_after_buying", SSD, ssd(1_200_000, "2026-11-22", "2027-07-22"),
      P("terse", "SSD if I buy now at $1.2m and sell 8 months after buying?"),
      P("chatty", "If we buy a condo now for S$1.2 million and have to sell it 8 months after we buy, how "
                  "much seller's stamp duty would we pay?"),
      P("singlish", "buy now 1.2m then sell 8 months after, ssd how much ah"),
      P("words", "If I buy today at one point two million and sell eight months after we buy, what's the SSD?"),
      P("spread", "we're buying a condo now at $1.2m", "what if we sell 8 months after we buy? SSD?")),
    F("ssd_two_and_a_half_years_on", SSD, ssd(1_500_000, "2026-11-22", "2029-05-22"),
      P("terse", "buying now at 1.5m, selling two and a half years on: SSD?"),
      P("chatty", "Suppose I buy a unit now for $1.5m and sell it two and a half years on. What's the "
                  "seller's stamp duty?"),
      P("singlish", "buy now 1.5m, sell 2.5 years later, ssd how much"),
      P("words", "SSD if I buy now for one and a half million and sell two and a half years on?"),
      P("spread", "I'm buying now for 1.5 mil", "planning to sell two and a half years on", "SSD?")),
    F("ssd_by_next_march", SSD, ssd(900_000, "2026-11-22", "2027-03-01"),
      P("terse", "Buy now at $900k, sell by next March: SSD?"),
      P("chatty", "We're buying a condo now for $900,000 but may need to sell by next March. How much SSD "
                  "is that?"),
      P("singlish", "buy now 900k, sell by next march, ssd ah?"),
      P("words", "If I buy now at nine hundred thousand and sell by next March, what's the SSD?"),
      P("spread", "buying now, 900k", "might sell by next March", "how much seller stamp duty?")),
    F("ssd_old_schedule_relative", SSD, ssd(1_100_000, "2024-03-01", "2025-09-01"),
      P("terse", "Bought 1 Mar 2024, sold 18 months after buying at $1.1m. SSD?"),
      P("chatty", "We bought our condo on 1 Mar 2024 and sold it 18 months after buying, for $1.1m. How much "
                  "SSD did that cost?"),
      P("singlish", "bought 1 Mar 2024, sold 18 months after buying, 1.1m, ssd how much"),
      P("words", "Bought on 1 Mar 2024, sold eighteen months after buying for one point one million: SSD?"),
      P("spread", "I bought my condo on 1 Mar 2024", "sold it 18 months after buying for 1.1m",
        "what's the SSD?")),
    F("ssd_bought_aug_2025_sell_now", SSD, ssd(1_400_000, "2025-08-10", "2026-11-22"),
      P("terse", "Bought 10 Aug 2025, selling now at $1.4m, SSD?"),
      P("chatty", "I bought a condo on 10 Aug 2025 and want to sell it now for S$1.4 million. What's my "
                  "seller's stamp duty?"),
      P("singlish", "bought 10 Aug 2025, sell now 1.4m, ssd ah"),
      P("words", "SSD on one point four million, bought on 10 Aug 2025 and selling now?"),
      P("spread", "I bought on 10 Aug 2025", "want to sell now at 1.4m", "SSD?")),
    # --- A.1 TDSR / MSR / floors -----------------------------------------------------------------------
    F("tdsr_9k", TDSR, ("tdsr_check", {"monthly_income": 9_000}),
      P("terse", "TDSR limit on $9k income?"),
      P("chatty", "I earn about $9,000 a month. What's the most I can spend on debt repayments under TDSR?"),
      P("singlish", "earn 9k a month, tdsr max how much"),
      P("words", "I make nine thousand a month; what's my TDSR limit?"),
      P("spread", "what's my TDSR limit?", form=lead(incomes=(9_000,), ages=(33,)))),
    F("tdsr_with_car_loan", TDSR, ("tdsr_check", {"monthly_income": 12_000, "other_monthly_debts": 900}),
      P("terse", "TDSR: income 12k, car loan $900/month"),
      P("chatty", "My salary is $12,000 a month and I pay $900 a month on a car loan. How much TDSR room is "
                  "left for a mortgage?"),
      P("singlish", "salary 12k, car loan 900 a month, tdsr left how much"),
      P("words", "I earn twelve thousand a month with a car loan of nine hundred a month; TDSR?"),
      P("spread", "I earn 12k a month", "and I have a car loan of $900 a month", "what's my TDSR?")),
    F("tdsr_couple", TDSR, ("tdsr_check", {"monthly_income": 11_000}),
      P("terse", "TDSR: I earn 6k, wife earns 5k"),
      P("chatty", "I'm 35 earning 6k, my wife 33 earning 5k. What's our TDSR limit together?"),
      P("singlish", "me 6k wife 5k, tdsr combined how much"),
      P("words", "I earn six thousand and my wife five thousand a month; what's our TDSR?"),
      P("spread", "what's our TDSR limit?", form=lead(incomes=(6_000, 5_000), ages=(35, 33)))),
    F("msr_7k", MSR, ("msr_check", {"monthly_income": 7_000}),
      P("terse", "MSR on $7k income?"),
      P("chatty", "We're buying an HDB flat and I earn $7,000 a month. What's the MSR limit for me?"),
      P("singlish", "hdb flat, income 7k, msr how much"),
      P("words", "I make seven thousand dollars a month, what's my MSR cap?"),
      P("spread", "what's the MSR for me?", form=lead(incomes=(7_000,), ages=(30,), ptype="HDB"))),
    F("stress_rates", FLOOR, ("stress_test_rate", {"loan_kind": "bank"}),
      P("terse", "stress test rate?"),
      P("chatty", "What interest rate do banks use to stress test my loan application?"),
      P("singlish", "bank stress test rate how much ah"),
      P("words", "what's the medium term interest rate floor banks use?"),
      P("spread", "I'm applying for a loan", "what's the floor rate used for the assessment?")),
    # --- A.2 LTV, tenure ---------------------------------------------------------------------------------
    F("ltv_no_loans", LTV, ltv(1_000_000, 0, 35, 30),
      P("terse", "LTV on $1m condo, no existing loans, age 35?"),
      P("chatty", "I'm 35 and have no other housing loans. What downpayment do I need for a $1m condo?"),
      P("singlish", "35 yo, no housing loan, 1m condo downpayment how much"),
      P("words", "I'm thirty-five with no housing loans; what's the LTV on a one million dollar condo?"),
      P("spread", "what's the downpayment?", "no outstanding housing loans",
        form=lead(price=1_000_000, incomes=(10_000,), ages=(35,)))),
    F("ltv_one_loan", LTV, ltv(1_200_000, 1, 40, 25),
      P("terse", "LTV with one outstanding housing loan, $1.2m, age 40"),
      P("chatty", "I'm 40 and still paying off one housing loan. What's the LTV on a $1.2m condo?"),
      P("singlish", "still got one housing loan, 40 yo, 1.2m condo ltv how much"),
      P("words", "Age forty, one outstanding home loan: what LTV for one point two million?"),
      P("spread", "I'm 40", "I still have one housing loan", "LTV on a 1.2m condo?")),
    F("ltv_two_loans", LTV, ltv(2_000_000, 2, 45, 20),
      P("terse", "LTV with 2 housing loans, $2m condo, age 45"),
      P("chatty", "I'm 45 and I have two housing loans right now. How much can a bank lend me on a $2m "
                  "condo (LTV)?"),
      P("singlish", "got 2 housing loans already, 45 yo, 2m condo ltv?"),
      P("words", "I have two housing loans and I'm forty-five; what's the LTV on two million dollars?"),
      P("spread", "I'm 45 and I have two loans", "the condo is 2m", "what's the LTV?")),
    F("ltv_reduced_tier", LTV, ltv(1_000_000, 0, 50, 30),
      P("terse", "LTV: age 50, 30-year loan, no other loans, $1m condo"),
      P("chatty", "I'm 50 and would like a 30 year loan on a $1m condo, no other housing loans. What LTV "
                  "would I get?"),
      P("singlish", "50 yo want 30 years loan, no housing loan, 1m condo, ltv?"),
      P("words", "Fifty years old, thirty year tenure, no housing loans, one million condo: LTV?"),
      P("spread", "I'm 50 with no housing loans", "I want a 30-year loan", "LTV on $1m condo?")),
    F("tenure_bank_45", TENURE, tenure("Private", "bank", 45),
      P("terse", "max loan tenure, age 45, condo?"),
      P("chatty", "I'm 45 and buying a condo. How long can my loan tenure be?"),
      P("singlish", "45 yo buy condo, loan tenure max how long"),
      P("words", "I'm forty-five; what's the longest loan tenure for a condo?"),
      P("spread", "how long can the loan tenure be?", form=lead(ages=(45,), incomes=(9_000,)))),
    # --- A.3 HDB concessionary loan ---------------------------------------------------------------------
    F("hdb_loan_ltv", HDB, ltv(500_000, 0, 30, 25, hdb=True),
      P("terse", "HDB loan LTV on $500k flat?"),
      P("chatty", "We're taking an HDB loan for a $500,000 BTO. How much of the price does the HDB loan cover?"),
      P("singlish", "hdb loan for 500k bto, can loan how much"),
      P("words", "What's the LTV of an HDB loan on a five hundred thousand dollar flat?"),
      P("spread", "we'll take an HDB loan", "what's the LTV?", form=lead(price=500_000, ptype="HDB"))),
    F("hdb_loan_tenure_age", HDB, tenure("HDB", "hdb", 50, 80),
      P("terse", "max HDB loan tenure, age 50, 80 years lease left"),
      P("chatty", "I'm 50 and the resale flat has 80 years of lease left. How long can my HDB loan tenure be?"),
      P("singlish", "50 yo, flat got 80 years lease, hdb loan tenure max how long"),
      P("words", "fifty years old, eighty years of lease left: longest HDB loan tenure?"),
      P("spread", "I'm 50", "the flat has 80 years lease remaining", "max HDB loan tenure?")),
    F("hdb_loan_tenure_lease", HDB, tenure("HDB", "hdb", 30, 42),
      P("terse", "HDB loan tenure, age 30, 42 years lease left"),
      P("chatty", "I'm 30 looking at an older resale flat with 42 years of lease left. What's the maximum "
                  "HDB loan tenure?"),
      P("singlish", "30 yo, old flat 42 years lease left, hdb loan tenure max?"),
      P("words", "thirty years old, forty-two years of lease left: max HDB loan tenure?"),
      P("spread", "I'm 30", "flat has 42 years of lease left", "how many years can the HDB loan run?")),
    F("hdb_loan_msr_floor", HDB, max_loan(600_000, [30], [4_000], "HDB", "hdb", remaining_lease_years=99),
      P("terse", "HDB loan, $600k BTO, income 4k, age 30: how much can I borrow?"),
      P("chatty", "I'm 30, earning $4,000 a month, buying a $600k BTO with an HDB loan. How much HDB loan "
                  "can I get?"),
      P("singlish", "30 yo earn 4k, bto 600k, hdb loan can get how much"),
      P("words", "BTO at six hundred thousand, HDB loan, I earn four thousand a month and I'm thirty: max loan?"),
      P("spread", "how much HDB loan can I get?", "it's a BTO",
        form=lead(price=600_000, incomes=(4_000,), ages=(30,), ptype="HDB"))),
    F("hdb_loan_instalment", HDB, instalment(400_000, 2.6, 25),
      P("terse", "monthly instalment, HDB loan $400k, 25 years"),
      P("chatty", "If I take an HDB loan of $400,000 over 25 years, what would the monthly instalment be?"),
      P("singlish", "hdb loan 400k 25 years, monthly pay how much"),
      P("words", "HDB loan of four hundred thousand over twenty-five years: monthly repayment?"),
      P("spread", "I'll take an HDB loan of $400k", "over 25 years", "what's the monthly instalment?")),
    F("hdb_vs_bank", HDB, ltv(500_000, 0, 30, 25, hdb=True),
      P("terse", "HDB loan vs bank loan?"),
      P("chatty", "Should we go for an HDB loan or a bank loan? What's the difference?"),
      P("singlish", "hdb loan or bank loan better ah"),
      P("words", "HDB or bank loan: which one is better for us?"),
      P("spread", "we're buying a BTO", "HDB loan or bank loan?"), figures=("ltv_pct",)),
    # --- A.9 instalments and maximum loan ----------------------------------------------------------------
    F("instalment_quoted_rate", PAY, instalment(600_000, 3.5, 25),
      P("terse", "instalment $600k, 25 years, 3.5%"),
      P("chatty", "What would my monthly repayment be on a $600,000 loan over 25 years at 3.5%?"),
      P("singlish", "loan 600k 25 years 3.5% monthly pay how much"),
      P("words", "Monthly instalment for six hundred thousand over twenty-five years at 3.5%?"),
      P("spread", "I need a loan of 600k", "25 years at 3.5%", "what's the monthly instalment?")),
    F("instalment_no_rate", PAY, instalment(500_000, 4, 30),
      P("terse", "monthly repayment, 500k loan, 30 years"),
      P("chatty", "Roughly how much would I pay each month on a $500k loan over 30 years?"),
      P("singlish", "500k loan 30 years, monthly how much"),
      P("words", "monthly payment on a five hundred thousand dollar loan over thirty years?"),
      P("spread", "loan amount is 500k", "30 years", "monthly repayment?")),
    F("max_loan_ltv_bound", LOAN, max_loan(800_000, [35], [10_000]),
      P("terse", "max loan: $800k condo, 10k/month, age 35"),
      P("chatty", "I'm 35, earn $10,000 a month and want a condo at $800k. How much can I borrow?"),
      P("singlish", "35 yo earn 10k, condo 800k, can borrow how much"),
      P("words", "I'm thirty-five earning ten thousand a month; how much can I borrow on an eight hundred "
                 "thousand dollar condo?"),
      P("spread", "how much can I borrow?", "the condo is 800k",
        form=lead(incomes=(10_000,), ages=(35,)))),
    F("max_loan_tdsr_bound", LOAN, max_loan(1_200_000, [35], [5_000]),
      P("terse", "how much can I borrow: $1.2m condo, 5k income, 35"),
      P("chatty", "I earn $5,000 a month and I'm 35. How much could I borrow for a $1.2m condo?"),
      P("singlish", "earn 5k, 35 yo, 1.2m condo can loan how much"),
      P("words", "I earn five thousand a month, I'm thirty-five; max loan for one point two million?"),
      P("spread", "I'm 35", "I earn 5k a month", "how much can I borrow for a 1.2m condo?")),
    F("max_loan_couple", LOAN, max_loan(1_300_000, [35, 33], [6_000, 5_000]),
      P("terse", "max loan, $1.3m condo, me 35 earning 6k, wife 33 earning 5k"),
      P("chatty", "I'm 35 earning 6k, my wife 33 earning 5k. How much can we borrow for a $1.3m condo?"),
      P("singlish", "me 35 earn 6k, wife 33 earn 5k, condo 1.3m can borrow how much"),
      P("words", "I'm thirty-five earning six thousand, my wife is thirty-three earning five thousand; max "
                 "loan on one point three million?"),
      P("spread", "how much can we borrow for the condo?", "price is 1.3m",
        form=lead(incomes=(6_000, 5_000), ages=(35, 33)))),
    F("max_loan_with_debts", LOAN, max_loan(1_000_000, [40], [9_000], other_monthly_debts=1_200),
      P("terse", "max loan: $1m condo, 9k income, age 40, car loan $1,200/month"),
      P("chatty", "I'm 40, earn $9,000 a month and pay $1,200 a month for my car loan. How much can I borrow "
                  "for a $1m condo?"),
      P("singlish", "40 yo earn 9k, car loan 1200 a month, condo 1m can borrow how much"),
      P("words", "forty, nine thousand a month, car loan of twelve hundred a month: max loan on one million?"),
      P("spread", "I'm 40 and earn 9k a month", "I pay a car loan of $1,200 a month",
        "how much can I borrow for a 1m condo?")),
    # --- A.7 CPF, A.8 income recognition -----------------------------------------------------------------
    F("cpf_withdrawal_limit", CPF, ("cpf_limits", {"purchase_price": 800_000, "loan_kind": "bank"}),
      P("terse", "CPF withdrawal limit, $800k condo, bank loan"),
      P("chatty", "How much of my CPF can I use for an $800,000 condo with a bank loan?"),
      P("singlish", "800k condo bank loan, cpf can use how much"),
      P("words", "CPF withdrawal limit on an eight hundred thousand dollar condo with a bank loan?"),
      P("spread", "can I use CPF for this?", "it's a bank loan", form=lead(price=800_000))),
    F("variable_income", INCOME, ("recognised_income", {"fixed": 6_000, "variable": 2_000}),
      P("terse", "basic 6k + 2k commission monthly: income banks count?"),
      P("chatty", "My basic salary is $6,000 and I get about $2,000 a month in commission. How much income "
                  "will the bank recognise?"),
      P("singlish", "basic 6k, commission 2k a month, bank count how much income"),
      P("words", "six thousand basic plus two thousand commission a month: what income do banks recognise?"),
      P("spread", "my basic is 6k a month", "plus 2k commission a month", "how much income does the bank "
                                                                          "recognise?")),
    # --- one missing input: one short question, for that input only --------------------------------
    F("ask_price_for_bsd", BSD, NONE,
      P("terse", "BSD?"),
      P("chatty", "Hi! How much buyer's stamp duty will I need to pay on my purchase?"),
      P("singlish", "stamp duty how much ah"),
      P("words", "what's the buyer's stamp duty going to be?"),
      P("spread", "I'm buying a condo", "how much is the BSD?"),
      kind="ask", ask="price"),
    F("ask_count_for_absd", ABSD, NONE,
      P("terse", "ABSD for a PR, $1.2m condo?"),
      P("chatty", "I'm a PR looking at a $1.2m condo. How much ABSD would I pay?"),
      P("singlish", "PR buy 1.2m condo, absd how much"),
      P("words", "PR buying at one point two million: ABSD?"),
      P("spread", "I'm a PR", "condo is 1.2m", "ABSD?"),
      kind="ask", ask="propert"),
    F("ask_age_for_max_loan", LOAN, ltv(900_000, 0, 35, 25),  # the LTV cap may be stated before asking
      P("terse", "max loan, $900k condo, income 8k"),
      P("chatty", "I earn $8,000 a month. How much can I borrow for a $900k condo?"),
      P("singlish", "earn 8k, 900k condo can borrow how much"),
      P("words", "eight thousand a month, nine hundred thousand condo: how much can I borrow?"),
      P("spread", "how much can I borrow?", "condo is 900k", form=lead(incomes=(8_000,))),
      kind="ask", ask="age"),
    F("ask_loan_for_instalment", PAY, NONE,
      P("terse", "monthly instalment at 3% over 25 years?"),
      P("chatty", "What would the monthly instalment be at 3% over 25 years?"),
      P("singlish", "3% 25 years, monthly instalment how much"),
      P("words", "Monthly repayment at three percent over twenty-five years?"),
      P("spread", "I'm looking at 3% over 25 years", "what's the monthly instalment?"),
      kind="ask", ask="loan"),
    # --- real handoff triggers (A.11 and asking for a person) ---------------------------------------
    F("handoff_person", HANDOFF, NONE,
      P("terse", "human please"),
      P("chatty", "Thanks, but I'd really like to speak to a real person about this."),
      P("singlish", "can talk to real person or not"),
      P("words", "I want to talk to a human agent"),
      P("spread", "What's the BSD on $1m?", "ok, can I speak to a consultant now?"),
      kind="handoff"),
    F("handoff_absd_refund", HANDOFF, NONE,
      P("terse", "ABSD refund if we sell our first home within 6 months?"),
      P("chatty", "We're a married couple buying a second home; can we get the ABSD refunded if we sell the "
                  "first one?"),
      P("singlish", "married couple buy 2nd home, absd can refund or not"),
      P("words", "Can we claim an ABSD remission as a married couple?"),
      P("spread", "we're married and buying our second home", "can the ABSD be refunded later?"),
      kind="handoff"),
)
