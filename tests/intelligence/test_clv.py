"""Lifetime value (DH-7): the RFM summary, and BG/NBD + Gamma-Gamma reproducing the published
CDNOW estimates. No database: the models work on DataFrames.

The first run compiles the models' log-likelihoods with g++ (PyTensor caches them afterwards).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from freshloop.core.clock import SHANGHAI
from freshloop.intelligence import clv

CDNOW_SUMMARY = Path(__file__).parent / "fixtures" / "cdnow_summary.csv"

# 2025-03-01 00:00 in Shanghai: the last observed day is 28 February.
CUTOFF = dt.datetime(2025, 3, 1, tzinfo=SHANGHAI).astimezone(dt.UTC)


def shanghai(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


def transactions(*rows: tuple[int, dt.datetime, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": [person for person, _, _ in rows],
            "occurred_at": pd.to_datetime([moment for _, moment, _ in rows], utc=True),
            "amount_fen": [amount for _, _, amount in rows],
        }
    )


# Person 1: five orders on three Shanghai days. Two on 1 January (the first purchase, left out of
# the spend), two on 15 January, one of them 23:00 UTC on the 14th (one day, 27.00 yuan), and
# 30.00 yuan on 12 February. Person 2 bought once; person 3 in the last minutes before the cutoff.
HISTORY = transactions(
    (1, shanghai(1, 1, 10), 1000),
    (1, shanghai(1, 1, 20), 500),
    (1, shanghai(1, 15, 7), 700),
    (1, shanghai(1, 15, 9), 2000),
    (1, shanghai(2, 12, 12), 3000),
    (2, shanghai(2, 20, 9), 4990),
    (3, shanghai(2, 28, 23, 30), 1200),
)


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    return pd.read_csv(CDNOW_SUMMARY)


@pytest.fixture(scope="module")
def cdnow_fit(cdnow_summary: pd.DataFrame) -> clv.ClvFit:
    return clv.clv_fit(cdnow_summary)


def customers(*rows: tuple[int, float, float, float]) -> pd.DataFrame:
    """A weekly summary of (frequency, recency, T, monetary_value) rows, person ids from 1."""
    summary = pd.DataFrame(rows, columns=["frequency", "recency", "T", "monetary_value"])
    summary.index = pd.Index(range(1, len(rows) + 1), name="person_id")
    return summary


class TestRfmSummary:
    def test_counts_repeat_days_recency_t_and_repeat_spend_in_weeks(self) -> None:
        # given the orders above
        # when they are summarised in weeks
        summary = clv.rfm_summary(HISTORY, cutoff=CUTOFF)

        # then repeat purchase days, weeks between first and last / first and 28 February, and
        # the mean of the repeat days' spend in yuan
        assert summary.index.tolist() == [1, 2, 3]
        assert summary["frequency"].tolist() == [2, 0, 0]
        assert summary["recency"].tolist() == pytest.approx([42 / 7, 0, 0])
        assert summary["T"].tolist() == pytest.approx([58 / 7, 8 / 7, 0])
        assert summary["monetary_value"].tolist() == pytest.approx([28.5, 0, 0])
        assert summary.attrs["time_unit_days"] == 7

    def test_daily_periods(self) -> None:
        # when the same orders are summarised in days
        summary = clv.rfm_summary(HISTORY, cutoff=CUTOFF, time_unit_days=1)

        # then recency and T count days
        assert summary.loc[1, ["recency", "T"]].tolist() == [42.0, 58.0]
        assert summary.loc[2, "T"] == 8.0
        assert summary.attrs["time_unit_days"] == 1

    def test_orders_on_one_shanghai_day_are_one_purchase(self) -> None:
        # given two orders on 15 January in Shanghai that fall on different UTC days
        orders = transactions(
            (7, shanghai(1, 1, 12), 1000),
            (7, shanghai(1, 15, 7), 700),
            (7, shanghai(1, 15, 9), 2000),
        )
        assert orders["occurred_at"].dt.day.tolist() == [1, 14, 15]

        # when summarised
        summary = clv.rfm_summary(orders, cutoff=CUTOFF, time_unit_days=1)

        # then they count as one repeat purchase worth their sum
        assert summary.loc[7, "frequency"] == 1
        assert summary.loc[7, "recency"] == 14.0
        assert summary.loc[7, "monetary_value"] == pytest.approx(27.0)

    @pytest.mark.parametrize("cutoff", [CUTOFF, shanghai(2, 28, 12)], ids=["midnight", "midday"])
    def test_nothing_at_or_after_the_cutoff_changes_the_summary(self, cutoff: dt.datetime) -> None:
        # given the orders before the cutoff, and the same with orders at and after it, some on
        # the cutoff's own day, one from a person who had not bought before
        before = HISTORY[HISTORY["occurred_at"] < cutoff]
        later = transactions(
            (1, cutoff, 99_900),
            (2, cutoff + dt.timedelta(microseconds=1), 50_000),
            (3, cutoff + dt.timedelta(hours=1), 50_000),
            (2, cutoff + dt.timedelta(days=3), 50_000),
            (4, cutoff, 1000),
            (4, cutoff + dt.timedelta(days=30), 1000),
        )
        leaked = pd.concat([later.iloc[:3], before, later.iloc[3:]], ignore_index=True)

        # when both are summarised at the cutoff
        expected = clv.rfm_summary(before, cutoff=cutoff)
        summary = clv.rfm_summary(leaked, cutoff=cutoff)

        # then the summaries are identical
        pd.testing.assert_frame_equal(summary, expected)
        assert 4 not in summary.index

    def test_no_orders_before_the_cutoff_gives_an_empty_summary(self) -> None:
        summary = clv.rfm_summary(transactions((1, CUTOFF, 1000)), cutoff=CUTOFF)

        assert summary.empty
        assert list(summary.columns) == ["frequency", "recency", "T", "monetary_value"]
        assert summary.index.name == "person_id"

    def test_refuses_naive_times_and_unsupported_units(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            clv.rfm_summary(HISTORY, cutoff=CUTOFF.replace(tzinfo=None))
        with pytest.raises(ValueError, match="aware"):
            naive = HISTORY.assign(occurred_at=HISTORY["occurred_at"].dt.tz_localize(None))
            clv.rfm_summary(naive, cutoff=CUTOFF)
        with pytest.raises(ValueError, match="time_unit_days"):
            clv.rfm_summary(HISTORY, cutoff=CUTOFF, time_unit_days=30)


class TestClvFit:
    def test_bgnbd_reproduces_fader_hardie_lee_2005(self, cdnow_fit: clv.ClvFit) -> None:
        # given the CDNOW sample (2,357 customers, 39 weeks), fitted by MAP with flat priors
        # then the estimates are the published maximum-likelihood ones (table 1 of "Counting
        # your customers the easy way"); they are printed to three decimals, hence 0.5 %
        assert cdnow_fit.n_customers == 2357
        assert cdnow_fit.time_unit_days == 7
        assert cdnow_fit.r == pytest.approx(0.243, rel=0.005)
        assert cdnow_fit.alpha == pytest.approx(4.414, rel=0.005)
        assert cdnow_fit.a == pytest.approx(0.793, rel=0.005)
        assert cdnow_fit.b == pytest.approx(2.426, rel=0.005)

    def test_gamma_gamma_reproduces_fader_hardie_2013(self, cdnow_fit: clv.ClvFit) -> None:
        # given the 946 repeat buyers of the CDNOW sample
        # then "The Gamma-Gamma Model of Monetary Value" estimates: p 6.25, q 3.74, γ 15.44
        assert cdnow_fit.n_repeat_buyers == 946
        assert cdnow_fit.p == pytest.approx(6.25, rel=0.005)
        assert cdnow_fit.q == pytest.approx(3.74, rel=0.005)
        assert cdnow_fit.v == pytest.approx(15.44, rel=0.005)

    def test_too_few_customers_is_refused_in_chinese(self, cdnow_summary: pd.DataFrame) -> None:
        # given 49 customers, all of them repeat buyers
        few = cdnow_summary[cdnow_summary["frequency"] > 0].head(clv.MIN_CUSTOMERS - 1)

        # when fitted
        with pytest.raises(clv.ClvTooLittleData) as refused:
            clv.clv_fit(few)

        # then the error says so in Chinese, with a machine code and the counts
        assert refused.value.code == "intelligence_clv_too_little_data"
        assert "数据太少" in refused.value.message
        assert "现有 49 位" in str(refused.value)
        assert (refused.value.customers, refused.value.repeat_buyers) == (49, 49)

    def test_too_few_repeat_buyers_is_refused(self, cdnow_summary: pd.DataFrame) -> None:
        # given 300 customers of whom 19 bought again
        one_offs = cdnow_summary[cdnow_summary["frequency"] == 0].head(281)
        repeaters = cdnow_summary[cdnow_summary["frequency"] > 0].head(clv.MIN_REPEAT_BUYERS - 1)

        with pytest.raises(clv.ClvTooLittleData, match="复购客户（现有 19 位）") as refused:
            clv.clv_fit(pd.concat([one_offs, repeaters]))

        assert (refused.value.customers, refused.value.repeat_buyers) == (300, 19)

    def test_fits_a_summary_built_from_transactions(self) -> None:
        # given a year of simulated orders from 150 people, in days
        rng = np.random.default_rng(20250301)
        rows: list[tuple[int, dt.datetime, int]] = []
        for person in range(150):
            first = CUTOFF - dt.timedelta(days=int(rng.integers(60, 365)))
            gap_days, dropout, typical_fen = rng.gamma(2, 15), rng.beta(1, 4), rng.gamma(6, 800)
            moment = first
            while moment < CUTOFF:
                rows.append((person, moment, int(rng.gamma(20, typical_fen / 20))))
                if rng.random() < dropout:
                    break
                moment += dt.timedelta(days=float(rng.exponential(gap_days)))
        summary = clv.rfm_summary(transactions(*rows), cutoff=CUTOFF, time_unit_days=1)

        # when fitted and scored
        fit = clv.clv_fit(summary)
        scores = fit.predict(summary, horizon_days=90)

        # then the fit knows its unit and every person is scored
        assert fit.time_unit_days == 1
        assert fit.n_customers == 150
        assert fit.is_usable()
        assert scores.index.equals(summary.index)
        assert (scores["clv_fen"] >= 0).all()
        assert scores["expected_purchases"].corr(summary["frequency"]) > 0


class TestClvPredict:
    def test_reproduces_the_published_conditional_expectation(self, cdnow_fit: clv.ClvFit) -> None:
        # given the CDNOW fit and the paper's example customer: 2 repeat purchases, the last in
        # week 30.43, observed for 38.86 weeks
        summary = customers((2, 30.43, 38.86, 22.35))

        # when predicting the next 39 weeks
        scores = clv.clv_predict(cdnow_fit, summary, horizon_days=39 * 7)

        # then 1.226 purchases are expected (Fader, Hardie & Lee 2005, section 4)
        assert scores.loc[1, "expected_purchases"] == pytest.approx(1.226, abs=0.001)

    def test_frequent_recent_buyer_outranks_one_off_and_lapsed(self, cdnow_fit: clv.ClvFit) -> None:
        # given a frequent buyer active last week, a one-off buyer from 39 weeks ago and a
        # buyer who bought three times in their first two weeks and then went quiet
        summary = customers(
            (10, 38.0, 39.0, 30.0),
            (0, 0.0, 39.0, 0.0),
            (3, 2.0, 39.0, 30.0),
        )

        # when scored
        scores = clv.clv_predict(cdnow_fit, summary)
        frequent, one_off, lapsed = (scores.loc[person] for person in (1, 2, 3))

        # then the frequent buyer expects more purchases and is worth more than either
        assert frequent["expected_purchases"] > 10 * one_off["expected_purchases"]
        assert frequent["expected_purchases"] > lapsed["expected_purchases"]
        assert frequent["clv_fen"] > one_off["clv_fen"] > 0
        # and is more likely alive than the lapsed buyer; BG/NBD can only lose a customer after
        # a repeat purchase, so a one-off buyer is alive with probability 1 by construction
        assert frequent["probability_alive"] > 0.9
        assert lapsed["probability_alive"] < 0.05
        assert one_off["probability_alive"] == 1.0

    def test_clv_is_non_negative_integer_fen(
        self, cdnow_fit: clv.ClvFit, cdnow_summary: pd.DataFrame
    ) -> None:
        scores = clv.clv_predict(cdnow_fit, cdnow_summary)

        assert scores.index.equals(cdnow_summary.index)
        assert scores["clv_fen"].dtype == np.int64
        assert scores["expected_spend_fen"].dtype == np.int64
        assert (scores["clv_fen"] >= 0).all()
        assert scores["clv_fen"].max() > 0
        assert scores["probability_alive"].between(0, 1).all()

    def test_discounting_lowers_the_value(self, cdnow_fit: clv.ClvFit) -> None:
        summary = customers((10, 38.0, 39.0, 30.0))

        undiscounted = clv.clv_predict(cdnow_fit, summary, discount_rate_annual=0.0)
        discounted = clv.clv_predict(cdnow_fit, summary, discount_rate_annual=0.1)

        assert discounted.loc[1, "clv_fen"] < undiscounted.loc[1, "clv_fen"]
        # without discounting, value = purchases over the year x expected spend (within the
        # library's 4.345-week month)
        expected = (
            undiscounted.loc[1, "expected_purchases"] * undiscounted.loc[1, "expected_spend_fen"]
        )
        assert undiscounted.loc[1, "clv_fen"] == pytest.approx(expected, rel=0.002)

    def test_round_trip_through_a_dict_predicts_the_same(
        self, cdnow_fit: clv.ClvFit, cdnow_summary: pd.DataFrame
    ) -> None:
        # given the fit stored as JSON and read back
        stored = json.loads(json.dumps(clv.clv_fit_to_dict(cdnow_fit)))
        restored = clv.clv_fit_from_dict(stored)

        # then it is the same fit, and scores identically without refitting
        assert restored == cdnow_fit
        pd.testing.assert_frame_equal(
            clv.clv_predict(restored, cdnow_summary), cdnow_fit.predict(cdnow_summary)
        )

    def test_refuses_a_summary_in_another_time_unit(self, cdnow_fit: clv.ClvFit) -> None:
        daily = clv.rfm_summary(HISTORY, cutoff=CUTOFF, time_unit_days=1)

        with pytest.raises(ValueError, match="periods of 1 days"):
            clv.clv_predict(cdnow_fit, daily)
