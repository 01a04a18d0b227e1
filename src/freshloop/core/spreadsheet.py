"""Cells for CSV files people open in Excel or WPS.

A cell that starts with = + - @ (or their full-width forms, which some locales also
evaluate), a tab or a carriage return is run as a formula when the file is opened — "CSV
injection". Any text a user or a customer typed (a nickname, a product name, a campaign)
goes through `spreadsheet_cell`, which opens such a cell with an apostrophe."""

from __future__ import annotations

from typing import Any

FORMULA_PREFIXES = frozenset({"=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"})


def spreadsheet_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_PREFIXES else text
