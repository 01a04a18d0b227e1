"""The base every API request schema builds on.

A request body is refused (422 `validation_error`) when it holds a key the schema does not
declare or is not a JSON object at all (`[1, 2, 3]`, `"x"`, `null`): a misspelt field
(`coupon_idz`) must not be silently dropped, because the client then believes it was applied.
Pydantic's `extra="forbid"` does both — ninja's `Schema` validates the raw input first when a
model forbids extras, and a list or scalar is no "dictionary or object to extract fields from".

Response schemas stay on ninja's plain `Schema` (lenient): they are built from our own objects,
and extra attributes there are harmless. `tests/core/test_request_schemas.py` walks every
operation of the served API and fails for a request body that is not strict.
"""

from __future__ import annotations

from ninja import Schema
from pydantic import ConfigDict


class InputSchema(Schema):
    """Base of request bodies (and their nested objects): unknown keys and non-objects are
    refused. Free-form parts (`traits`, `properties`) are typed `dict[str, Any]`, not models."""

    model_config = ConfigDict(extra="forbid")
