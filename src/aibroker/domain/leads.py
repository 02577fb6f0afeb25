"""The lead form the website posts (FACTS §P), accepted in camelCase as the site sends it, or snake_case."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from aibroker.domain.storable import NOT_BOOL, MessageText, StorableStr


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


_PHONE_PATTERN = r"^(\+?[0-9][0-9 \-]{6,18})?$"  # empty: no phone
_PHONE = re.compile(_PHONE_PATTERN)
Amount = Annotated[float, Field(ge=0, le=1_000_000_000), NOT_BOOL]
Income = Annotated[float, Field(ge=0, le=10_000_000, description="monthly, S$"), NOT_BOOL]
Age = Annotated[int, Field(ge=18, le=100), NOT_BOOL]
# email-validator (behind EmailStr) refuses special-use domains (RFC 6761): say so in the OpenAPI document too. JSON
# Schema patterns have no flags, hence the spelled-out case-insensitivity.
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
EMAIL_PATTERN = r"^(?!.*[.@](?:" + "|".join("".join(f"[{c}{c.upper()}]" for c in name) for name in _SPECIAL_USE) \
    + r")\.?$)"


class LeadForm(BaseModel):
    """One lead as submitted. Unknown extra keys are ignored (the form may grow); known keys are checked."""

    # No NaN/Infinity (JSON `NaN` parses): a calculator fed NaN answers nonsense.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              str_strip_whitespace=True, allow_inf_nan=False)

    name: MessageText = Field(min_length=1, max_length=120)
    email: EmailStr = Field(json_schema_extra={"pattern": EMAIL_PATTERN})
    phone: str | None = Field(default=None, max_length=24, json_schema_extra={"pattern": _PHONE_PATTERN})
    loan_type: LoanType
    property_category: PropertyCategory | None = None
    property_type: PropertyType | None = None
    actual_incomes: list[Income] = Field(default_factory=list, max_length=2)
    actual_ages: list[Age] = Field(default_factory=list, max_length=2)
    employment_type: EmploymentType | None = None
    timeline: Timeline | None = None
    session_id: StorableStr | None = Field(default=None, max_length=200)
    property_price: Amount | None = None
    # Refinancing only.
    outstanding_loan: Amount | None = None
    current_rate: Annotated[float, Field(ge=0, le=30), NOT_BOOL] | None = None
    lock_in_months_left: Annotated[int, Field(ge=0, le=120), NOT_BOOL] | None = None
    # The lead ticked the privacy notice's consent box (PDPA). Every form accepted since consent was asked
    # has it true (`LeadSubmission` refuses the rest); leads stored before that read back as False.
    consent: bool = False

    @field_validator("phone")
    @classmethod
    def _phone_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _PHONE.match(value):
            raise ValueError("phone must be digits, optionally starting with + (e.g. +6591234567)")
        return value.replace(" ", "").replace("-", "")

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


CONSENT_REQUIRED = "consent is required: tick the box to agree to the privacy notice"


class LeadSubmission(LeadForm):
    """A lead as the form submits it now: the same fields, and consent must be given (PDPA). A separate model
    so that leads stored before consent was asked still read back as `LeadForm`."""

    consent: bool = Field(strict=True, description="the lead agreed to the privacy notice; must be true",
                          json_schema_extra={"const": True})

    @field_validator("consent")
    @classmethod
    def _consent_given(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError(CONSENT_REQUIRED)
        return value
