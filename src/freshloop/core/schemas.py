"""The base every API request body schema builds on.

A request body is refused (422 `validation_error`) when it holds a key the schema does not
declare or is not a JSON object at all (`[1, 2, 3]`, `"x"`, `null`): a misspelt field
(`coupon_idz`) must not be silently dropped, because the client then believes it was applied.
Pydantic's `extra="forbid"` does both — ninja's `Schema` validates the raw input first when a
model forbids extras, and a list or scalar is no "dictionary or object to extract fields from".

Types are strict too (`strict=True`): JSON has real numbers and booleans, so `false` is not a
quantity of 0 (it emptied a cart line) and `"3"` or `3.0` is not the integer 3. A date-time is
a string in JSON, so such a field opts out with `Field(..., strict=False)`. Query and path
parameters arrive as text and keep pydantic's lax parsing (their schemas are not this class).

Response schemas stay on ninja's plain `Schema` (lenient): they are built from our own objects,
and extra attributes there are harmless. `tests/core/test_request_schemas.py` walks every
operation of the served API and fails for a request body that is not strict.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from ninja import Schema
from pydantic import BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

# The largest id a database column holds (BIGINT, SQLite INTEGER): a larger one used to reach a
# query and fail there (a 500 for `{"sku_id": 58701162118764756992, "quantity": 0}`) instead of
# being refused as input.
MAX_ID = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A row id in a request body: a positive integer the database can hold."""


def _iso_text_only(value: Any) -> Any:
    # Lax parsing would take 12345 as seconds since 1970: a client sending a number meant
    # something else, so only text (or an already parsed datetime) goes on to be parsed.
    if isinstance(value, str | dt.datetime):
        return value
    raise PydanticCustomError("datetime_type", "Input should be a valid datetime")


IsoDatetime = Annotated[dt.datetime, BeforeValidator(_iso_text_only), Field(strict=False)]
"""A date-time in a request body: ISO 8601 text (a number is refused, not read as seconds)."""


class InputSchema(Schema):
    """Base of request bodies (and their nested objects): unknown keys, non-objects and values
    of another JSON type are refused. Free-form parts (`traits`, `definition`) are typed
    `dict[str, Any]` / `Any`, not models."""

    model_config = ConfigDict(extra="forbid", strict=True)
