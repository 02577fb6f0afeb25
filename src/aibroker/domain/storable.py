"""Input types a database can store as they are. Pure: no I/O.

PostgreSQL refuses text with a NUL character, and a lone surrogate ("\\ud800", valid JSON) cannot be encoded
as UTF-8: either would fail deep in a request as a 500. A number field that accepts `true` (Python's bool is
an int) would turn `"propertyPrice": false` into 0. These types refuse such input at the boundary (422).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


def storable_text(value: str) -> str:
    """Text from a trusted sender (a signed webhook) with what no database can store taken out, rather than
    refused: the sender would only retry it."""
    return _UNSTORABLE.sub("", value)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


# The OpenAPI document says the same as the validators (a `pattern` only there: the validators give the reasons),
# so a client, or schemathesis, can tell valid input from invalid without asking.
StorableStr = Annotated[str, AfterValidator(_storable), Field(json_schema_extra={"pattern": "^[^\\x00]*$"})]
# Text a person typed: storable and not only whitespace.
MessageText = Annotated[str, AfterValidator(_storable), AfterValidator(_not_blank),
                        Field(json_schema_extra={"pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"})]
# Bounds go before the validator (`Annotated[float, Field(ge=0), NOT_BOOL]`): after it, pydantic cannot put them
# in the JSON schema.
NOT_BOOL = BeforeValidator(_not_bool)
