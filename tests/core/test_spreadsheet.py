"""CSV cells that would run as formulas in a spreadsheet are defused."""

from __future__ import annotations

import pytest

from freshloop.core.spreadsheet import spreadsheet_cell


class TestSpreadsheetCell:
    @pytest.mark.parametrize("text", ["=1+1", "+86", "-2", "@SUM(A1)", "＝HYPERLINK()", "\tx"])
    def test_formula_starts_are_opened_with_an_apostrophe(self, text: str) -> None:
        assert spreadsheet_cell(text) == "'" + text

    @pytest.mark.parametrize(("value", "cell"), [("鲜牛奶", "鲜牛奶"), (None, ""), (12, "12")])
    def test_plain_values_stay_as_they_are(self, value: object, cell: str) -> None:
        assert spreadsheet_cell(value) == cell
