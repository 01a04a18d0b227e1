"""The cadence arithmetic and the run-out prediction from hand-made purchase histories."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.food.cadence import (
    Cadence,
    CadenceInvalid,
    CadenceKind,
    Purchase,
    cadence_suggest,
    pack_content,
)

D = dt.date


class TestPackContent:
    @pytest.mark.parametrize(
        ("spec", "amount", "unit"),
        [
            ("250ml×12", 3000, "ml"),
            ("250ml x 24", 6000, "ml"),
            ("1L", 1000, "ml"),
            ("950ml", 950, "ml"),
            ("24盒", 24, "件"),
            ("500g×2袋", 1000, "g"),
            ("礼盒", 1, "件"),
        ],
    )
    def test_reads_the_spec(self, spec: str, amount: float, unit: str) -> None:
        content = pack_content(spec)
        assert (content.amount, content.unit) == (amount, unit)


class TestCadence:
    def test_every_n_days_follows_the_last_delivery(self) -> None:
        assert Cadence(CadenceKind.EVERY_DAYS, 9).after(D(2026, 1, 28)) == D(2026, 2, 6)

    def test_weekly_lands_on_the_weekday(self) -> None:
        saturday = Cadence(CadenceKind.WEEKLY, 5)
        assert saturday.first_on_or_after(D(2026, 12, 7)) == D(2026, 12, 12)  # a Monday
        assert saturday.after(D(2026, 12, 12)) == D(2026, 12, 19)

    def test_monthly_rolls_into_next_month_and_year(self) -> None:
        assert Cadence(CadenceKind.MONTHLY, 5).first_on_or_after(D(2026, 12, 7)) == D(2027, 1, 5)
        assert Cadence(CadenceKind.MONTHLY, 28).first_on_or_after(D(2027, 2, 1)) == D(2027, 2, 28)

    @pytest.mark.parametrize(
        ("kind", "value"),
        [("every_days", 0), ("every_days", 91), ("weekly", 7), ("monthly", 29), ("daily", 1)],
    )
    def test_out_of_range_is_refused(self, kind: str, value: int) -> None:
        with pytest.raises(CadenceInvalid):
            Cadence.parse(kind, value)


class TestCadenceSuggest:
    def test_steady_household_gets_its_own_interval(self) -> None:
        # given one case of 12 × 250 ml every 9 days
        history = [
            Purchase(D(2026, 10, 1) + dt.timedelta(days=9 * n), "250ml×12", 1) for n in range(4)
        ]
        # when
        suggestion = cadence_suggest(purchases=history, pack_spec="250ml×12", pack_word="箱")
        # then
        assert suggestion is not None
        assert suggestion.every_days == 9
        assert suggestion.headline == "按您的饮用习惯，建议每 9 天一箱"
        assert suggestion.runs_out_on == D(2026, 10, 28) + dt.timedelta(days=9)
        assert "4 次购买" in suggestion.reason

    def test_pack_size_is_normalised(self) -> None:
        # given the household drinks 24 × 250 ml (6 l) in 18 days, bought as big and small cases
        history = [
            Purchase(D(2026, 10, 1), "250ml×24", 1),
            Purchase(D(2026, 10, 19), "250ml×12", 1),
            Purchase(D(2026, 10, 28), "250ml×24", 1),
        ]
        # when a small case is subscribed
        suggestion = cadence_suggest(purchases=history, pack_spec="250ml×12")
        # then rates 6000/18 and 3000/9 agree: a 12-pack lasts 9 days
        assert suggestion is not None
        assert suggestion.every_days == 9
        assert suggestion.runs_out_on == D(2026, 10, 28) + dt.timedelta(days=18)

    def test_median_ignores_one_party_week(self) -> None:
        days = [0, 10, 12, 22, 32]  # the 2-day gap was a party
        history = [Purchase(D(2026, 9, 1) + dt.timedelta(days=d), "1L", 2) for d in days]
        suggestion = cadence_suggest(purchases=history, pack_spec="1L")
        assert suggestion is not None
        assert suggestion.every_days == 5

    def test_same_day_purchases_count_once(self) -> None:
        history = [
            Purchase(D(2026, 9, 1), "950ml", 1),
            Purchase(D(2026, 9, 1), "950ml", 1),
            Purchase(D(2026, 9, 5), "950ml", 2),
        ]
        suggestion = cadence_suggest(purchases=history, pack_spec="950ml")
        assert suggestion is not None
        assert suggestion.every_days == 2
        assert suggestion.purchases == 2

    def test_too_little_history_suggests_nothing(self) -> None:
        assert cadence_suggest(purchases=[Purchase(D(2026, 9, 1), "1L", 1)], pack_spec="1L") is None
        assert cadence_suggest(purchases=[], pack_spec="1L") is None

    def test_other_units_are_not_mixed(self) -> None:
        history = [Purchase(D(2026, 9, 1), "500g", 1), Purchase(D(2026, 9, 5), "500g", 1)]
        assert cadence_suggest(purchases=history, pack_spec="1L") is None
