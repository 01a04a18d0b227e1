from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freshloop.core.money import (
    MoneyError,
    allocate,
    fen_to_yuan,
    format_fen,
    multiply_fen,
    percent_off,
    yuan_to_fen,
)


class TestYuanToFen:
    @pytest.mark.parametrize(
        ("amount", "fen"),
        [("12.34", 1234), ("0.005", 1), ("0.004", 0), ("2.675", 268), ("-0.005", -1), (3, 300)],
    )
    def test_rounds_half_up_not_bankers(self, amount: str | int, fen: int) -> None:
        # given a yuan amount, when converted, then half a fen rounds away from zero
        assert yuan_to_fen(amount) == fen

    @pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", "", "1e9999999", "9" * 200])
    def test_rejects_non_amounts(self, bad: str) -> None:
        with pytest.raises(MoneyError):
            yuan_to_fen(bad)

    def test_rejects_float(self) -> None:
        with pytest.raises(MoneyError):
            yuan_to_fen(0.1)  # type: ignore[arg-type]


class TestFormatFen:
    def test_formats_with_thousands_and_sign(self) -> None:
        assert format_fen(123456) == "¥1,234.56"
        assert format_fen(-50) == "-¥0.50"
        assert fen_to_yuan(5) == Decimal("0.05")


class TestPercentOff:
    def test_half_fen_rounds_up(self) -> None:
        # given 12% off ¥0.25 = 3 fen exactly; 15% of 10 fen = 1.5 -> 2
        assert percent_off(25, 12) == 3
        assert percent_off(10, 15) == 2
        assert multiply_fen(999, "0.5") == 500


class TestAllocate:
    def test_parts_sum_exactly_and_follow_weights(self) -> None:
        # given a 100 fen discount over lines worth 1:1:1
        parts = allocate(100, [1, 1, 1])
        # then the leftover fen goes to the first line, and nothing is lost
        assert parts == [34, 33, 33]

    def test_negative_totals_keep_their_sign(self) -> None:
        assert allocate(-10, [3, 7]) == [-3, -7]

    def test_rejects_all_zero_weights(self) -> None:
        with pytest.raises(MoneyError):
            allocate(10, [0, 0])

    @given(
        total=st.integers(min_value=-(10**9), max_value=10**9),
        weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(
            lambda ws: sum(ws) > 0
        ),
    )
    def test_never_loses_or_invents_a_fen(self, total: int, weights: list[int]) -> None:
        parts = allocate(total, weights)
        assert sum(parts) == total
        assert all(part == 0 for part, weight in zip(parts, weights, strict=True) if weight == 0)
        exact = [total * weight / sum(weights) for weight in weights]
        assert all(abs(part - share) < 1 for part, share in zip(parts, exact, strict=True))
