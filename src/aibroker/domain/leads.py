"""The lead form the website posts (FACTS §P), accepted in camelCase as the site sends it, or snake_case."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel


class LoanType(StrEnum):
    NEW_PURCHASE = "new_purchase"
    REFINANCE = "refinance"
    COMMERCIAL = "commercial"


class PropertyCategory(StrEnum):
    RESALE = "resale"
    NEW_LAUNCH = "new_launch"
    BTO = "bto"
    COMMERCIAL = "commercial"


class PropertyType(StrEnum):
    HDB = "HDB"
    EC = "EC"
    PRIVATE = "Private"
    LANDED = "Landed"
    COMMERCIAL = "Commercial"


class Timeline(StrEnum):
    THIS_MONTH = "this_month"
    NEXT_3_MONTHS = "next_3_months"
    THREE_TO_SIX_MONTHS = "3_6_months"
    EXPLORING = "exploring"


class EmploymentType(StrEnum):
    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    CONTRACT = "contract"
    UNEMPLOYED = "unemployed"
    RETIRED = "retired"
    OTHER = "other"


_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{6,18}$")


class LeadForm(BaseModel):
    """One lead as submitted. Unknown extra keys are ignored (the form may grow); known keys are checked."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=24)
    loan_type: LoanType
    property_category: PropertyCategory | None = None
    property_type: PropertyType | None = None
    actual_incomes: list[float] = Field(default_factory=list, max_length=2)
    actual_ages: list[int] = Field(default_factory=list, max_length=2)
    employment_type: EmploymentType | None = None
    timeline: Timeline | None = None
    session_id: str | None = Field(default=None, max_length=200)
    property_price: float | None = Field(default=None, ge=0, le=1_000_000_000)
    # Refinancing only.
    outstanding_loan: float | None = Field(default=None, ge=0, le=1_000_000_000)
    current_rate: float | None = Field(default=None, ge=0, le=30)
    lock_in_months_left: int | None = Field(default=None, ge=0, le=120)

    @field_validator("phone")
    @classmethod
    def _phone_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _PHONE.match(value):
            raise ValueError("phone must be digits, optionally starting with + (e.g. +6591234567)")
        return value.replace(" ", "").replace("-", "")

    @field_validator("actual_incomes")
    @classmethod
    def _incomes_in_range(cls, values: list[float]) -> list[float]:
        if any(v < 0 or v > 10_000_000 for v in values):
            raise ValueError("each monthly income must be between 0 and 10,000,000")
        return values

    @field_validator("actual_ages")
    @classmethod
    def _ages_in_range(cls, values: list[int]) -> list[int]:
        if any(v < 18 or v > 100 for v in values):
            raise ValueError("each age must be between 18 and 100")
        return values

    @field_validator("property_type", mode="before")
    @classmethod
    def _property_type_any_case(cls, value: object) -> object:
        if isinstance(value, str):
            for member in PropertyType:
                if member.value.lower() == value.strip().lower():
                    return member
        return value

    @model_validator(mode="after")
    def _ages_match_incomes(self) -> LeadForm:
        if self.actual_ages and self.actual_incomes and len(self.actual_ages) != len(self.actual_incomes):
            raise ValueError("actualAges and actualIncomes must list the same applicants")
        return self

    @property
    def first_name(self) -> str:
        return self.name.split()[0]

    @property
    def address_name(self) -> str:
        """How to address the customer: the name as they wrote it (the first word may be a surname)."""
        return " ".join(self.name.split())

    @property
    def total_monthly_income(self) -> float:
        return float(sum(self.actual_incomes))
