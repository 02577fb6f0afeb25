"""The tabular facts of FACTS.md §A: bank LTV tiers, BSD bands, ABSD rates and SSD schedules.

Re-exported by `facts.py`; kept apart only so each module stays short. Same rules as there: each
table is one `Fact` carrying its section, effective date, source and confidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from aibroker.domain.mortgage._fact import Fact

_D = Decimal


# --- A.2 Bank-loan LTV and minimum cash ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LtvTier:
    """One row of the MAS LTV table (percent)."""

    normal_pct: Decimal
    reduced_pct: Decimal
    min_cash_normal_pct: Decimal
    min_cash_reduced_pct: Decimal


BANK_LTV_TIERS = Fact(
    "bank_ltv_table",
    # Indexed by the number of outstanding housing loans, capped at 2 ("2 or more").
    (LtvTier(_D(75), _D(55), _D(5), _D(10)),
     LtvTier(_D(45), _D(25), _D(25), _D(25)),
     LtvTier(_D(35), _D(15), _D(25), _D(25))),
    "A.2",
    "Bank loans, individual borrowers: no outstanding housing loan 75% LTV (55% reduced), minimum cash "
    "5% (10% at 55%); one loan 45% (25% reduced), minimum cash 25%; two or more 35% (15% reduced), "
    "minimum cash 25%",
    date(2018, 7, 6), "MAS table for OTP on/after 6 Jul 2018",
    "MAS explainer 'Loan tenure and loan-to-value limits' "
    "(mas.gov.sg/regulation/explainers/new-housing-loans/loan-tenure-and-loan-to-value-limits)", "H")


# --- A.4 Buyer's Stamp Duty ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TaxBand:
    """A marginal band: `rate_pct` applies to the part of the value up to `upper` (None = no cap)."""

    upper: Decimal | None
    rate_pct: Decimal


_BSD_SRC = ("finreg.sg 'Stamp duty increase 2023' (Budget 2023 table); shophouseoffice.com (Budget 2023 "
            "speech summary); hauslife.sg (quick formulas); MOF press release 14 Feb 2023 (referenced)")
_BSD_DATE = date(2023, 2, 15)
_BSD_NOTE = "documents executed on/after 15 Feb 2023 (Budget 2023)"
_BSD_COMMON = (TaxBand(_D(180_000), _D(1)), TaxBand(_D(360_000), _D(2)), TaxBand(_D(1_000_000), _D(3)),
               TaxBand(_D(1_500_000), _D(4)), TaxBand(_D(3_000_000), _D(5)))

BSD_BANDS_RESIDENTIAL = Fact(
    "bsd_residential", (*_BSD_COMMON, TaxBand(None, _D(6))), "A.4",
    "BSD, residential, on the higher of price or market value: 1% on the first $180,000, 2% on the next "
    "$180,000, 3% on the next $640,000, 4% on the next $500,000, 5% on the next $1,500,000, 6% above "
    "$3,000,000",
    _BSD_DATE, _BSD_NOTE, _BSD_SRC, "H")

BSD_BANDS_NON_RESIDENTIAL = Fact(
    "bsd_non_residential", (*_BSD_COMMON, TaxBand(None, _D(5))), "A.4",
    "BSD, non-residential, on the higher of price or market value: 1% on the first $180,000, 2% on the "
    "next $180,000, 3% on the next $640,000, 4% on the next $500,000, 5% above $1,500,000",
    _BSD_DATE, _BSD_NOTE, _BSD_SRC, "H")

BSD_ROUNDING = Fact(
    "stamp_duty_rounding", _D(1), "A.4",
    "Stamp duty is quoted in whole dollars, rounded down (IRAS rounding rule not confirmed)",
    None, "IRAS pages could not be checked", "aibroker FACTS A.4 ⚠ and A.10 item 5", "M")


# --- A.5 Additional Buyer's Stamp Duty -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AbsdRates:
    """ABSD percent by the number of residential properties owned after this purchase."""

    first: Decimal
    second: Decimal
    third_plus: Decimal


_ABSD_SRC = ("Allen & Gledhill note on the joint MOF/MND/MAS announcement; Straits Times 27 Apr 2023; "
             "Stamp Duties Act (Amendment of First Schedule) (No. 2) Notification 2023 summary")
_ABSD_DATE = date(2023, 4, 27)
_ABSD_NOTE = "purchases on/after 27 Apr 2023"

_absd_table: Mapping[str, AbsdRates] = MappingProxyType({
    "citizen": AbsdRates(_D(0), _D(20), _D(30)),
    "pr": AbsdRates(_D(5), _D(30), _D(35)),
    "foreigner": AbsdRates(_D(60), _D(60), _D(60)),
    "entity": AbsdRates(_D(65), _D(65), _D(65)),
    "trustee": AbsdRates(_D(65), _D(65), _D(65)),
})

ABSD_RATES = Fact(
    "absd_rates", _absd_table, "A.5",
    "ABSD on the higher of price or market value, on top of BSD: Singapore Citizens 0% / 20% / 30% "
    "(1st / 2nd / 3rd+ property); PRs 5% / 30% / 35%; foreigners 60% on any; entities 65%; trustees 65%",
    _ABSD_DATE, _ABSD_NOTE, _ABSD_SRC, "H")

ABSD_FTA_NATIONALS = Fact(
    "absd_fta_nationals", None, "A.5",
    "Nationals and PRs of Iceland, Liechtenstein, Norway and Switzerland, and nationals of the USA, are "
    "treated like Singapore Citizens for ABSD under free-trade agreements",
    None, "FTA treatment; IRAS page not checked", "several secondary sources quoting IRAS", "M")

ABSD_JOINT_HIGHEST_RATE = Fact(
    "absd_joint_highest", None, "A.5",
    "For a joint purchase by buyers of different profiles, the highest applicable ABSD rate applies",
    None, "IRAS page not checked", "secondary sources", "M")

ABSD_MARRIED_COUPLE_REMISSION = Fact(
    "absd_married_couple_remission", None, "A.5",
    "Married couples (at least one SC spouse, buying in both names only) get full ABSD remission on a "
    "first joint home; for a joint second property ABSD is paid and refunded if the first property is "
    "sold within 6 months (conditions apply)",
    None, "current IRAS remission rules", "iras.gov.sg 'Remission of ABSD for a married couple'", "H")


# --- A.6 Seller's Stamp Duty (residential) ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SsdSchedule:
    """SSD percent for holding periods ≤1, >1–2, >2–3, >3–4 years; 0 % beyond the listed bands."""

    purchased_from: date
    purchased_until: date | None
    rates_pct: tuple[Decimal, Decimal, Decimal, Decimal]


_SSD_SRC = ("MND/MOF/MAS press release 3 Jul 2025 'Extension of the Holding Period of SSD and Higher SSD "
            "Rates' (mnd.gov.sg); CNA; Rajah & Tann")

SSD_2011 = Fact(
    "ssd_schedule_2011",
    SsdSchedule(date(2011, 1, 14), date(2017, 3, 10), (_D(16), _D(12), _D(8), _D(4))), "A.6",
    "SSD for residential property bought 14 Jan 2011 – 10 Mar 2017: 16% / 12% / 8% / 4% for holding "
    "periods up to 1 / 2 / 3 / 4 years, on the higher of selling price or market value",
    date(2011, 1, 14), "purchases 14 Jan 2011 – 10 Mar 2017", "legacy NextNest JSON only", "M")

SSD_2017 = Fact(
    "ssd_schedule_2017",
    SsdSchedule(date(2017, 3, 11), date(2025, 7, 3), (_D(12), _D(8), _D(4), _D(0))), "A.6",
    "SSD for residential property bought 11 Mar 2017 – 3 Jul 2025: 12% / 8% / 4% for holding periods "
    "up to 1 / 2 / 3 years, none after 3 years, on the higher of selling price or market value",
    date(2017, 3, 11), "purchases 11 Mar 2017 – 3 Jul 2025", _SSD_SRC, "H")

SSD_2025 = Fact(
    "ssd_schedule_2025",
    SsdSchedule(date(2025, 7, 4), None, (_D(16), _D(12), _D(8), _D(4))), "A.6",
    "SSD for residential property bought on or after 4 Jul 2025: 16% / 12% / 8% / 4% for holding "
    "periods up to 1 / 2 / 3 / 4 years, none after 4 years, on the higher of selling price or market value",
    date(2025, 7, 4), "purchases on/after 4 Jul 2025", _SSD_SRC, "H")

SSD_SCHEDULES = (SSD_2011, SSD_2017, SSD_2025)
