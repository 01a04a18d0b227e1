"""Model fields for PII: values are sealed with core.crypto before they reach the database."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from freshloop.core import crypto


class EncryptedTextField(models.TextField):
    """A text column stored as AES-GCM ciphertext and read back as plain text.

    Encrypted values cannot be filtered or ordered on; pair the field with a blind-index
    column when rows must be found by the value.
    """

    description = "Text encrypted at rest (AES-256-GCM)"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))


class EncryptedJSONField(EncryptedTextField):
    """A JSON object sealed as one ciphertext; reads back as a dict. Not queryable."""

    description = "JSON encrypted at rest (AES-256-GCM)"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        text = super().from_db_value(value, expression, connection)
        return json.loads(text) if text else {}

    def to_python(self, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        return json.loads(value) if value else {}

    def get_prep_value(self, value: Any) -> Any:
        if value is None or value == {}:
            return ""
        if isinstance(value, str):
            value = json.loads(value)
        # Sealed here rather than through TextField.get_prep_value, whose to_python would
        # turn the JSON text back into a dict.
        return crypto.encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))
