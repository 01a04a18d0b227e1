"""Live-heat demand forecast (DH-8): metrics, holidays, baseline, live units, backtest, safety
stock and stock alerts — pure functions, no database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from freshloop.intelligence.forecast import (
    AvailableStock,
    ForecastInvalid,
    ForecastTooLittleData,
    PastSession,
    SafetyStockPolicy,
    SessionPlan,
    WarehouseForecast,
    backtest,
    baseline_forecast,
    forecast_session,
    holiday_break_days,
    mape,
    poisson_glm_fit,
    safety_stock_units,
    session_units_forecast,
    stock_alerts,
    wape,
    warehouse_shares,
)

HISTORY_END = dt.date(2025, 12, 28)  # a Sunday; 2026-01-01 (元旦) lies four days ahead
FIRST_SESSION = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)  # 20:00 in Shanghai
Z_95 = 1.6448536269514722  # NormalDist().inv_cdf(0.95)


def make_past(
    session_id: str,
    *,
    sku_id: int = 1,
    host_id: int | None = 7,
    starts_at: dt.datetime = FIRST_SESSION,
    reservations: int = 99,
    page_views: int = 300,
    shares: int = 10,
    list_price_fen: int = 1000,
    session_price_fen: int = 1000,
    units_sold: int = 50,
    viewers: int | None = None,
) -> PastSession:
    return PastSession(
        session_id=session_id,
        sku_id=sku_id,
        starts_at=starts_at,
        host_id=host_id,
        reservations=reservations,
        page_views=page_views,
        shares=shares,
        list_price_fen=list_price_fen,
        session_price_fen=session_price_fen,
        units_sold=units_sold,
        viewers=viewers,
    )


def make_plan(session_id: str = "NEXT", **fields: Any) -> SessionPlan:
    """A planned line with the same fields as `make_past` (outcome fields dropped)."""
    past = make_past(session_id, **fields)
    plan_fields = {f.name: getattr(past, f.name) for f in dataclasses.fields(SessionPlan)}
    return SessionPlan(**plan_fields)


def planted_sessions(
    sessions: int = 60, skus_per_session: int = 4, seed: int = 11
) -> list[PastSession]:
    """Units planted as a known function of the inputs: Poisson with mean (reservations + 1)
    × 0.3 × host conversion × product conversion × e^(1.5 × discount depth); reservations
    vary ~e^1 between sessions, so 'same as last time' is a poor guess."""
    rng = np.random.default_rng(seed)
    host_conversion = rng.lognormal(0.0, 0.5, 4)
    product_conversion = rng.lognormal(0.0, 0.5, 12)
    lines = []
    for number in range(sessions):
        host = int(rng.integers(4))
        starts_at = FIRST_SESSION + dt.timedelta(days=2 * number)
        for sku in rng.choice(12, skus_per_session, replace=False):
            reservations = int(rng.lognormal(4.5, 1.0))
            depth = float(rng.choice([0.0, 0.1, 0.2, 0.3, 0.5]))
            mean = (
                (reservations + 1)
                * 0.3
                * host_conversion[host]
                * product_conversion[sku]
                * math.exp(1.5 * depth)
            )
            lines.append(
                make_past(
                    f"S{number:03d}",
                    sku_id=int(sku),
                    host_id=host,
                    starts_at=starts_at,
                    reservations=reservations,
                    page_views=int(reservations * 3 * rng.lognormal(0.0, 0.3)),
                    shares=int(reservations * 0.1 * rng.lognormal(0.0, 0.3)),
                    session_price_fen=round(1000 * (1 - depth)),
                    units_sold=int(rng.poisson(mean)),
                    viewers=reservations * 5,
                )
            )
    return lines


def daily_demand_frame(
    *,
    levels: dict[tuple[int, int], float],
    days: int = 200,
    holiday_multiplier: float = 1.0,
    seed: int = 5,
) -> pd.DataFrame:
    """Poisson daily units up to HISTORY_END with a weekend lift, times `holiday_multiplier`
    on Chinese holiday-break days (国庆 2025 falls inside the 200 days)."""
    rng = np.random.default_rng(seed)
    calendar = [HISTORY_END - dt.timedelta(days=i) for i in range(days)][::-1]
    breaks = holiday_break_days(calendar[0], HISTORY_END)
    weekday_lift = [1.0, 1.0, 1.0, 1.0, 1.2, 1.5, 1.4]
    rows = []
    for (sku, warehouse), level in levels.items():
        for day in calendar:
            mean = level * weekday_lift[day.weekday()]
            mean *= holiday_multiplier if day in breaks else 1.0
            rows.append((sku, warehouse, day, int(rng.poisson(mean))))
    return pd.DataFrame(rows, columns=["sku_id", "warehouse_id", "day", "units"])


def make_warehouse_forecast(
    warehouse_id: int,
    *,
    sku_id: int = 1,
    baseline_units: float = 100.0,
    baseline_sigma: float = 0.0,
    live_units: float = 0.0,
) -> WarehouseForecast:
    return WarehouseForecast(
        session_id="NEXT",
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        day=dt.date(2026, 1, 3),
        baseline_units=baseline_units,
        baseline_sigma=baseline_sigma,
        baseline_method="auto_ets",
        live_units=live_units,
        live_method="poisson_glm",
        share=0.5,
    )


class TestMape:
    def test_skips_zero_actuals_and_averages_the_rest(self) -> None:
        # given errors of 2/10, (zero actual skipped), 5/20 and 0/30
        # when / then
        assert mape([10, 0, 20, 30], [12, 5, 15, 30]) == pytest.approx((0.2 + 0.25 + 0.0) / 3)

    def test_is_none_when_every_actual_is_zero(self) -> None:
        assert mape([0, 0], [1, 2]) is None

    def test_refuses_lists_of_different_lengths(self) -> None:
        with pytest.raises(ForecastInvalid):
            mape([1, 2], [1])


class TestWape:
    def test_is_total_absolute_error_over_total_actual(self) -> None:
        # given |errors| 2 + 5 + 5 + 0 = 12 over actual 60
        assert wape([10, 0, 20, 30], [12, 5, 15, 30]) == pytest.approx(0.2)

    def test_is_none_when_nothing_was_sold(self) -> None:
        assert wape([0, 0], [3, 4]) is None

    def test_refuses_negative_actuals(self) -> None:
        with pytest.raises(ForecastInvalid):
            wape([-1, 2], [1, 2])


class TestHolidayBreakDays:
    def test_national_day_break_includes_its_weekend(self) -> None:
        breaks = holiday_break_days(dt.date(2025, 9, 25), dt.date(2025, 10, 15))
        assert breaks == {dt.date(2025, 10, d) for d in range(1, 9)}

    def test_an_ordinary_weekend_is_no_break(self) -> None:
        assert holiday_break_days(dt.date(2025, 11, 1), dt.date(2025, 11, 30)) == frozenset()


class TestBaselineForecast:
    def test_holiday_effect_measured_in_the_past_lifts_a_coming_holiday(self) -> None:
        # given demand 2.5× on holiday breaks (国庆 in the history)
        demand = daily_demand_frame(levels={(1, 10): 40.0, (1, 20): 20.0}, holiday_multiplier=2.5)
        # when forecasting the Thursday of 元旦 and the ordinary Thursday a week later
        holiday, ordinary = dt.date(2026, 1, 1), dt.date(2026, 1, 8)
        result = baseline_forecast(demand, history_end=HISTORY_END, days=[holiday, ordinary])
        # then the holiday forecast is about 2.5× the ordinary one, for each warehouse
        for warehouse in (10, 20):
            rows = result[result["warehouse_id"] == warehouse].set_index("day")
            ratio = rows.loc[holiday, "units"] / rows.loc[ordinary, "units"]
            assert 2.0 < ratio < 3.0
            assert 2.0 < rows.loc[holiday, "holiday_factor"] < 3.0
            assert rows.loc[ordinary, "holiday_factor"] == 1.0
        assert set(result["method"]) == {"auto_ets"}

    def test_without_a_holiday_effect_the_factor_stays_near_one(self) -> None:
        demand = daily_demand_frame(levels={(1, 10): 40.0}, holiday_multiplier=1.0)
        result = baseline_forecast(demand, history_end=HISTORY_END, days=[dt.date(2026, 1, 1)])
        assert 0.8 < result["holiday_factor"].iloc[0] < 1.2

    def test_short_histories_fall_back_to_weekday_mean_and_plain_mean(self) -> None:
        # given 14 days of one series (10 on its two Sundays, 2 otherwise) and 3 of another
        rows = [
            (1, 10, HISTORY_END - dt.timedelta(days=i), 10 if i % 7 == 0 else 2) for i in range(14)
        ] + [(2, 10, HISTORY_END - dt.timedelta(days=i), 6) for i in range(3)]
        demand = pd.DataFrame(rows, columns=["sku_id", "warehouse_id", "day", "units"])
        # when forecasting the next Sunday (same weekday as HISTORY_END) and Monday
        sunday, monday = dt.date(2026, 1, 4), dt.date(2025, 12, 29)
        result = baseline_forecast(demand, history_end=HISTORY_END, days=[monday, sunday])
        by_key = result.set_index(["sku_id", "day"])
        # then the 14-day series uses its weekday means, the 3-day one its plain mean
        assert by_key.loc[(1, sunday), "method"] == "seasonal_mean"
        assert by_key.loc[(1, sunday), "units"] == pytest.approx(10.0)
        assert by_key.loc[(1, monday), "units"] == pytest.approx(2.0)
        assert by_key.loc[(2, monday), "method"] == "mean"
        assert by_key.loc[(2, monday), "units"] == pytest.approx(6.0)

    def test_missing_days_after_the_first_count_as_zero_sales(self) -> None:
        # given one sale 14 days before the end and nothing since
        demand = pd.DataFrame(
            [(1, 10, HISTORY_END - dt.timedelta(days=13), 14)],
            columns=["sku_id", "warehouse_id", "day", "units"],
        )
        # when forecasting the next Monday, the weekday of that sale
        result = baseline_forecast(demand, history_end=HISTORY_END, days=[dt.date(2025, 12, 29)])
        # then its two Mondays held 14 and 0
        assert result["units"].iloc[0] == pytest.approx(7.0)

    @pytest.mark.parametrize(
        ("frame", "days"),
        [
            (
                pd.DataFrame({"sku_id": [1], "day": [HISTORY_END], "units": [1]}),
                [dt.date(2026, 1, 1)],
            ),
            (
                pd.DataFrame(
                    {"sku_id": [1], "warehouse_id": [1], "day": [HISTORY_END], "units": [-1]}
                ),
                [dt.date(2026, 1, 1)],
            ),
            (
                pd.DataFrame(
                    {
                        "sku_id": [1, 1],
                        "warehouse_id": [1, 1],
                        "day": [HISTORY_END] * 2,
                        "units": [1, 2],
                    }
                ),
                [dt.date(2026, 1, 1)],
            ),
            (
                pd.DataFrame(
                    {"sku_id": [1], "warehouse_id": [1], "day": [HISTORY_END], "units": [1]}
                ),
                [HISTORY_END],
            ),
        ],
        ids=["missing column", "negative units", "duplicate day", "day not after history"],
    )
    def test_invalid_input_raises_forecast_invalid(
        self, frame: pd.DataFrame, days: list[dt.date]
    ) -> None:
        with pytest.raises(ForecastInvalid) as raised:
            baseline_forecast(frame, history_end=HISTORY_END, days=days)
        assert raised.value.code == "intelligence_forecast_invalid"
        assert raised.value.status == 422


class TestWarehouseShares:
    def test_shares_follow_the_last_four_weeks(self) -> None:
        # given warehouse 10 sold all through the older history, warehouse 20 only recently
        rows = [(1, 10, HISTORY_END - dt.timedelta(days=i), 3) for i in range(60)] + [
            (1, 20, HISTORY_END - dt.timedelta(days=i), 1) for i in range(28)
        ]
        demand = pd.DataFrame(rows, columns=["sku_id", "warehouse_id", "day", "units"])
        shares = warehouse_shares(demand, history_end=HISTORY_END)
        assert shares == {(1, 10): pytest.approx(0.75), (1, 20): pytest.approx(0.25)}

    def test_a_sku_that_never_sold_is_split_equally(self) -> None:
        demand = pd.DataFrame(
            [(1, 10, HISTORY_END, 0), (1, 20, HISTORY_END, 0)],
            columns=["sku_id", "warehouse_id", "day", "units"],
        )
        shares = warehouse_shares(demand, history_end=HISTORY_END)
        assert shares == {(1, 10): 0.5, (1, 20): 0.5}


class TestPoissonGlmFit:
    def test_recovers_planted_coefficients(self) -> None:
        rng = np.random.default_rng(2)
        features = rng.normal(size=(4000, 2))
        counts = rng.poisson(np.exp(1.0 + 0.5 * features[:, 0] - 0.3 * features[:, 1]))
        glm = poisson_glm_fit(features, counts, alpha=0.0)
        slopes = glm.coefficients / glm.feature_scales  # back on the raw features' scale
        assert slopes == pytest.approx([0.5, -0.3], abs=0.05)


class TestSessionUnitsForecast:
    def test_ratio_rule_with_few_sessions_worked_by_hand(self) -> None:
        # given two earlier sessions: host 7 / sku 1 sold 50 of 99+1, host 8 / sku 2 sold 10 of 99+1
        history = [
            make_past("S1", sku_id=1, host_id=7, units_sold=50),
            make_past(
                "S2",
                sku_id=2,
                host_id=8,
                units_sold=10,
                starts_at=FIRST_SESSION + dt.timedelta(days=1),
            ),
        ]
        plan = make_plan(sku_id=1, host_id=7, starts_at=FIRST_SESSION + dt.timedelta(days=2))
        # when
        (result,) = session_units_forecast([plan], history)
        # then all-session rate 60/200 = 0.3; host 7 and sku 1 each shrink 0.5 towards it with
        # two prior sessions: (1×0.5 + 2×0.3)/3; units = 100 × 0.3 × (that / 0.3)²
        shrunk = (0.5 + 2 * 0.3) / 3
        assert result.method == "ratio"
        assert result.training_lines == 2
        assert result.units == pytest.approx(100 * 0.3 * (shrunk / 0.3) ** 2)

    def test_uses_the_regression_once_enough_sessions_exist(self) -> None:
        history = planted_sessions(sessions=10)
        plan = make_plan(starts_at=FIRST_SESSION + dt.timedelta(days=100))
        (result,) = session_units_forecast([plan], history)
        assert result.method == "poisson_glm"
        assert result.training_lines == 40

    def test_ignores_sessions_that_start_at_or_after_the_plan(self) -> None:
        plan = make_plan(starts_at=FIRST_SESSION + dt.timedelta(days=1))
        earlier = [make_past("S1", units_sold=50)]
        later = make_past("S9", units_sold=5000, starts_at=FIRST_SESSION + dt.timedelta(days=1))
        alone = session_units_forecast([plan], earlier)
        with_later = session_units_forecast([plan], [*earlier, later])
        assert with_later == alone

    def test_no_earlier_session_raises_too_little_data(self) -> None:
        with pytest.raises(ForecastTooLittleData) as raised:
            session_units_forecast([make_plan()], [])
        assert raised.value.code == "intelligence_forecast_too_little_data"

    @pytest.mark.parametrize(
        "plan",
        [
            make_plan(reservations=-1),
            make_plan(starts_at=dt.datetime(2025, 6, 1, 12)),  # naive: no time zone
            make_plan(list_price_fen=0),
        ],
        ids=["negative reservations", "naive start", "zero list price"],
    )
    def test_invalid_plan_raises_forecast_invalid(self, plan: SessionPlan) -> None:
        with pytest.raises(ForecastInvalid):
            session_units_forecast([plan], [make_past("S1")])

    def test_a_duplicated_line_raises_forecast_invalid(self) -> None:
        with pytest.raises(ForecastInvalid):
            session_units_forecast([make_plan(), make_plan()], [make_past("S1")])


class TestBacktest:
    def test_model_beats_the_naive_baseline_on_planted_sessions(self) -> None:
        # given units planted as a function of reservations, conversion and discount
        report = backtest(planted_sessions())
        # then the model's WAPE is well under the naive "same as last time"
        assert report.compared > 150
        assert report.wape_model is not None
        assert report.wape_naive is not None
        assert report.wape_model < 0.6 * report.wape_naive
        assert report.mape_model is not None
        assert report.mape_naive is not None
        assert report.mape_model < report.mape_naive

    def test_changing_a_later_session_never_changes_an_earlier_forecast(self) -> None:
        # given the planted history, and a copy where session 40 sold ten times as much
        history = planted_sessions(sessions=45)
        changed = [
            dataclasses.replace(line, units_sold=line.units_sold * 10 + 7)
            if line.session_id == "S040"
            else line
            for line in history
        ]
        before, after = backtest(history).lines, backtest(changed).lines
        # then every forecast up to and including session 40's own is identical
        up_to = before["session_id"] <= "S040"
        for column in ("model_units", "naive_units"):
            pd.testing.assert_series_equal(before.loc[up_to, column], after.loc[up_to, column])
        # and a later one did move (the change is visible to the sessions after it)
        later = before["session_id"] > "S040"
        assert not np.allclose(before.loc[later, "model_units"], after.loc[later, "model_units"])

    def test_naive_takes_the_same_host_first_then_the_same_sku(self) -> None:
        day = dt.timedelta(days=1)
        history = [
            make_past("S1", host_id=7, units_sold=40),
            make_past("S2", host_id=8, units_sold=90, starts_at=FIRST_SESSION + day),
            make_past("S3", host_id=7, units_sold=55, starts_at=FIRST_SESSION + 2 * day),
            make_past("S4", host_id=9, units_sold=70, starts_at=FIRST_SESSION + 3 * day),
        ]
        lines = backtest(history).lines.set_index("session_id")
        assert math.isnan(lines.loc["S1", "naive_units"])  # nothing before the first
        assert lines.loc["S2", "naive_units"] == 40  # host 8 new: last of the SKU
        assert lines.loc["S3", "naive_units"] == 40  # host 7's own last session, not S2
        assert lines.loc["S4", "naive_units"] == 55  # host 9 new: the SKU's last (S3)

    def test_metrics_are_those_of_the_compared_lines(self) -> None:
        report = backtest(planted_sessions(sessions=25))
        both = report.lines.dropna(subset=["model_units", "naive_units"])
        assert report.compared == len(both)
        assert report.wape_model == pytest.approx(wape(both["actual"], both["model_units"]))
        assert report.mape_naive == pytest.approx(mape(both["actual"], both["naive_units"]))


class TestForecastSession:
    def test_splits_session_units_by_share_on_top_of_the_baseline(self) -> None:
        # given two warehouses selling 3:1 and a planted session history
        demand = daily_demand_frame(levels={(1, 10): 30.0, (1, 20): 10.0}, days=120)
        history = planted_sessions(sessions=30)
        plan = make_plan(sku_id=1, starts_at=dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC))
        # when
        rows = forecast_session([plan], history, demand, history_end=HISTORY_END)
        # then one row per warehouse; the live units add up to the session's and follow shares
        (session_units,) = session_units_forecast([plan], history)
        assert [row.warehouse_id for row in rows] == [10, 20]
        assert sum(row.live_units for row in rows) == pytest.approx(session_units.units)
        assert sum(row.share for row in rows) == pytest.approx(1.0)
        assert 0.65 < rows[0].share < 0.85
        for row in rows:
            assert row.total_units == pytest.approx(row.baseline_units + row.live_units)
            assert row.day == dt.date(2026, 1, 2)
            assert row.baseline_method == "auto_ets"

    def test_a_session_on_or_before_the_history_end_is_invalid(self) -> None:
        demand = daily_demand_frame(levels={(1, 10): 30.0}, days=30)
        plan = make_plan(starts_at=dt.datetime(2025, 12, 28, 2, tzinfo=dt.UTC))
        with pytest.raises(ForecastInvalid):
            forecast_session([plan], [make_past("S1")], demand, history_end=HISTORY_END)

    def test_a_sku_without_daily_demand_is_too_little_data(self) -> None:
        demand = daily_demand_frame(levels={(1, 10): 30.0}, days=30)
        plan = make_plan(sku_id=2, starts_at=dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC))
        with pytest.raises(ForecastTooLittleData):
            forecast_session([plan], [make_past("S1")], demand, history_end=HISTORY_END)


class TestSafetyStockUnits:
    def test_daily_noise_over_the_lead_time_worked_by_hand(self) -> None:
        forecast = make_warehouse_forecast(10, baseline_sigma=10.0)
        policy = SafetyStockPolicy(service_level=0.95, lead_time_days=3, session_wape=0.2)
        # z × 10 × √(1 + 3)
        assert safety_stock_units(forecast, policy) == pytest.approx(Z_95 * 20)

    def test_session_error_adds_in_quadrature(self) -> None:
        forecast = make_warehouse_forecast(10, baseline_sigma=10.0, live_units=100.0)
        policy = SafetyStockPolicy(service_level=0.95, lead_time_days=3, session_wape=0.2)
        live_sigma = math.sqrt(math.pi / 2) * 0.2 * 100
        expected = Z_95 * math.sqrt(10.0**2 * 4 + live_sigma**2)
        assert safety_stock_units(forecast, policy) == pytest.approx(expected)

    def test_a_service_level_of_one_is_invalid(self) -> None:
        with pytest.raises(ForecastInvalid):
            safety_stock_units(make_warehouse_forecast(10), SafetyStockPolicy(service_level=1.0))


class TestStockAlerts:
    # σ 18.2 over a 3-day lead time: safety stock 1.645 × 18.2 × 2 = 59.9 → 60 units
    POLICY = SafetyStockPolicy(service_level=0.95, lead_time_days=3, session_wape=0.0)

    def _guangzhou_short(self, shanghai_available: int) -> list[AvailableStock]:
        return [
            AvailableStock(sku_id=1, warehouse_id=10, warehouse_name="广州仓", available_units=300),
            AvailableStock(
                sku_id=1,
                warehouse_id=20,
                warehouse_name="上海仓",
                available_units=shanghai_available,
            ),
        ]

    def _forecasts(self) -> list[WarehouseForecast]:
        return [
            make_warehouse_forecast(
                10, baseline_units=120.0, live_units=300.0, baseline_sigma=18.2
            ),
            make_warehouse_forecast(20, baseline_units=100.0),
        ]

    def test_suggests_a_transfer_from_a_warehouse_with_surplus(self) -> None:
        # given 广州仓 needs 420 + 60 with 300 available; 上海仓 needs 100 and holds 500
        alerts = stock_alerts(self._forecasts(), self._guangzhou_short(500), policy=self.POLICY)
        (alert,) = alerts
        assert alert.warehouse_name == "广州仓"
        assert (alert.demand_units, alert.safety_stock_units, alert.shortfall_units) == (
            420,
            60,
            180,
        )
        assert [(t.from_warehouse_name, t.units) for t in alert.transfers] == [("上海仓", 180)]
        assert alert.purchase_units == 0
        assert (
            alert.reason
            == "广州仓 预计需求 420 件 + 安全库存 60 件 > 可用 300 件：建议从 上海仓 调拨 180 件"
        )

    def test_suggests_a_purchase_when_no_warehouse_has_surplus(self) -> None:
        alerts = stock_alerts(self._forecasts(), self._guangzhou_short(100), policy=self.POLICY)
        (alert,) = alerts
        assert alert.transfers == ()
        assert alert.purchase_units == 180
        assert alert.reason.endswith("：建议采购 180 件")

    def test_transfers_what_surplus_there_is_and_buys_the_rest(self) -> None:
        alerts = stock_alerts(self._forecasts(), self._guangzhou_short(200), policy=self.POLICY)
        (alert,) = alerts
        assert [(t.from_warehouse_name, t.units) for t in alert.transfers] == [("上海仓", 100)]
        assert alert.purchase_units == 80
        assert alert.reason.endswith("：建议从 上海仓 调拨 100 件，另采购 80 件")

    def test_a_warehouse_with_stock_but_no_forecast_can_give(self) -> None:
        stock = [
            *self._guangzhou_short(100),
            AvailableStock(sku_id=1, warehouse_id=30, warehouse_name="北京仓", available_units=90),
        ]
        (alert,) = stock_alerts(self._forecasts(), stock, policy=self.POLICY)
        assert [(t.from_warehouse_name, t.units) for t in alert.transfers] == [("北京仓", 90)]
        assert alert.purchase_units == 90

    def test_no_alert_when_stock_covers_demand_and_safety_stock(self) -> None:
        stock = [
            AvailableStock(sku_id=1, warehouse_id=10, warehouse_name="广州仓", available_units=480),
            AvailableStock(sku_id=1, warehouse_id=20, warehouse_name="上海仓", available_units=100),
        ]
        assert stock_alerts(self._forecasts(), stock, policy=self.POLICY) == []

    def test_a_forecast_without_a_stock_row_is_invalid(self) -> None:
        with pytest.raises(ForecastInvalid):
            stock_alerts(self._forecasts(), self._guangzhou_short(500)[:1], policy=self.POLICY)

    def test_two_forecasts_for_one_warehouse_are_invalid(self) -> None:
        forecasts = [*self._forecasts(), make_warehouse_forecast(10)]
        with pytest.raises(ForecastInvalid):
            stock_alerts(forecasts, self._guangzhou_short(500), policy=self.POLICY)
