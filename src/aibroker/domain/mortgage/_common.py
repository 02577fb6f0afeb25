"""Shared input types, validation and rounding for the mortgage calculators.

Money and rates are handled as `Decimal` throughout so that stamp-duty bands, LTV caps and the
$1,000 rounding are exact: a float would turn S$1,200,000 × 4 % into 47999.99999… and round the
wrong way at band edges. Callers may pass int, float, numeric str or Decimal; floats are converted
through their shortest repr so 0.1 becomes Decimal("0.1"), not 0.1000000000000000055….
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal, get_args

from aibroker.domain.leads import PropertyType

Money = Decimal | int | float | str
"""Anything the calculators accept as an amount of money or a percentage."""

LoanKind = Literal["bank", "hdb"]
BuyerProfile = Literal["citizen", "pr", "foreigner", "entity", "trustee"]

HUNDRED = Decimal(100)
ZERO = Decimal(0)
ONE_DOLLAR = Decimal(1)
CENT = Decimal("0.01")

# Age bounds are input sanity limits shared with the lead form (leads.py), not a regulatory figure.
MIN_AGE = 18
MAX_AGE = 100


def to_decimal(value: object, name: str) -> Decimal:
    """Convert an accepted numeric input to a finite Decimal, or raise ValueError naming the field."""
    if isinstance(value, bool):  # bool is an int subclass; True as a price is always a bug
        raise ValueError(f"{name} must be a number, not a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{name} must be a number, got {value!r}") from None
    else:
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if result.as_tuple().exponent > 0:  # type: ignore[operator]  # finite, so the exponent is an int
        result = result.quantize(ONE_DOLLAR)  # "1E+6" would otherwise reach the JSON the bot reads
    return result


def non_negative(value: object, name: str) -> Decimal:
    result = to_decimal(value, name)
    if result < 0:
        raise ValueError(f"{name} must not be negative, got {result}")
    return result


def positive(value: object, name: str) -> Decimal:
    result = to_decimal(value, name)
    if result <= 0:
        raise ValueError(f"{name} must be greater than zero, got {result}")
    return result


def percentage(value: object, name: str) -> Decimal:
    """An annual rate in percent. Must be in [0, 100): a 100 %+ mortgage rate is a typo, not a quote."""
    result = to_decimal(value, name)
    if not ZERO <= result < HUNDRED:
        raise ValueError(f"{name} must be a percentage from 0 up to (not including) 100, got {result}")
    return result


def whole_number(value: object, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_age(value: object, name: str = "age") -> int:
    age = whole_number(value, name)
    if not MIN_AGE <= age <= MAX_AGE:
        raise ValueError(f"{name} must be between {MIN_AGE} and {MAX_AGE}, got {age}")
    return age


def check_date(value: object, name: str) -> date:
    # datetime is a date subclass; accepting it would silently compare times as dates.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime.date, got {value!r}")
    return value


def check_property_type(value: object) -> PropertyType:
    """Accept the lead-form enum or its value in any case ("hdb", "Private", …)."""
    if isinstance(value, PropertyType):
        return value
    if isinstance(value, str):
        for member in PropertyType:
            if member.value.lower() == value.strip().lower():
                return member
    allowed = ", ".join(m.value for m in PropertyType)
    raise ValueError(f"property_type must be one of {allowed}, got {value!r}")


def check_loan_kind(value: object) -> LoanKind:
    if value == "bank":
        return "bank"
    if value == "hdb":
        return "hdb"
    raise ValueError(f"loan_kind must be one of {', '.join(get_args(LoanKind))}, got {value!r}")


def residential_only(kind: PropertyType) -> None:
    # MAS LTV/tenure rules and the 4 % floor in FACTS A.1–A.2 are for residential property; the
    # non-residential floor is unverified (4.5 % vs 5 %, FACTS A.1 ⚠), so we refuse rather than guess.
    if kind is PropertyType.COMMERCIAL:
        raise ValueError(
            "commercial (non-residential) property is not covered: its stress-test floor is unverified "
            "(FACTS A.1); refer the customer to a human broker"
        )


def ages_and_incomes(ages: Sequence[object], incomes: Sequence[object]) -> tuple[list[int], list[Decimal]]:
    if isinstance(ages, (str, bytes)) or isinstance(incomes, (str, bytes)):
        raise ValueError("ages and incomes must be sequences, one entry per borrower")
    if len(ages) == 0:
        raise ValueError("at least one borrower (age and income) is required")
    if len(ages) != len(incomes):
        raise ValueError(f"ages and incomes must list the same borrowers ({len(ages)} vs {len(incomes)})")
    checked_ages = [check_age(a, f"ages[{i}]") for i, a in enumerate(ages)]
    checked_incomes = [non_negative(m, f"incomes[{i}]") for i, m in enumerate(incomes)]
    if sum(checked_incomes, ZERO) <= 0:
        raise ValueError("total income must be greater than zero")
    return checked_ages, checked_incomes


def floor_to(amount: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of `step` (e.g. loan eligibility to the nearest $1,000, FACTS A.9)."""
    return _plain((amount / step).to_integral_value(rounding=ROUND_FLOOR) * step, step)


def ceil_to(amount: Decimal, step: Decimal) -> Decimal:
    return _plain((amount / step).to_integral_value(rounding=ROUND_CEILING) * step, step)


def _plain(amount: Decimal, step: Decimal) -> Decimal:
    # 600 * 1000 can come out as 6.00E+5; pin the exponent to the step's (whole dollars or cents).
    return amount.quantize(ONE_DOLLAR if step >= 1 else step)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
