"""Live-heat demand forecast (DH-8): backtest the session model against the naive "same as last
time" on 120 past sessions, check the statsforecast baseline on a 14-day holdout of 200 SKUs ×
3 warehouses, then forecast a coming session and raise its stock alerts. Pure computation: no
database, no Django.

Synthetic data from a seeded numpy generator with planted effects:

- Daily non-live demand, 180 days up to HISTORY_END, per SKU × warehouse: Poisson around a
  SKU level (gamma), split over the three warehouses by Dirichlet weights, a weekly pattern
  (Friday–Sunday up to +50 %) and ×1.8 on Chinese holiday breaks (国庆 2025 is inside).
- Past sessions: one every 1.5 days, 15 hosts, 8 SKUs each (120 sessions → 960 lines).
  Units are Poisson with mean (reservations + 1) × 0.25 × host conversion × SKU conversion ×
  e^(1.5 × discount depth) × (pre-live interest)^0.5, where reservations are lognormal
  (σ = 1) and interest = page views per reservation relative to the usual 3 (lognormal,
  σ = 0.4) — so the last session's units are a poor guess for the next one.

Keys: `skus`, `sessions`, `lines` (session × SKU); `mape_*` / `wape_*` are the rolling-origin
backtest of live units per session line (fractions; MAPE skips zero actuals; over the lines
both forecasts have, `compared`); `seconds` = backtest + one coming session's forecast
(baseline for its SKUs, live units, warehouse split) + its stock alerts — what a pre-session
run costs; `backtest_seconds`, `session_seconds` apart. `baseline_wape` / `baseline_wape_
seasonal_naive`: the baseline (AutoETS ZNA, holiday-adjusted) and "same weekday last week"
on the last 14 days of daily demand after fitting on the rest, `baseline_seconds` for all
series; `alerts`, `transfers`, `purchases` for the coming session, `example_alert` the first
reason. `peak_mb` is the process's peak resident memory.

Usage: python bench/forecast.py [--quick] [--skus N] [--sessions N] [--seed N]
--quick runs 40 SKUs / 60 sessions. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time

import numpy as np
import pandas as pd
from _common import ROOT, emit, peak_mb

sys.path.insert(0, str(ROOT / "src"))

from freshloop.intelligence.forecast import (
    AvailableStock,
    PastSession,
    SafetyStockPolicy,
    SessionPlan,
    backtest,
    baseline_forecast,
    forecast_session,
    holiday_break_days,
    stock_alerts,
    wape,
)

HISTORY_END = dt.date(2025, 12, 20)
HISTORY_DAYS = 180
HOLDOUT_DAYS = 14
WAREHOUSES = {1: "广州仓", 2: "上海仓", 3: "北京仓"}
HOSTS = 15
SKUS_PER_SESSION = 8
HOLIDAY_LIFT = 1.8
WEEKLY_PATTERN = np.array([1.0, 0.95, 1.0, 1.05, 1.2, 1.5, 1.4])  # Monday first


def daily_demand(rng: np.random.Generator, skus: int) -> pd.DataFrame:
    calendar = pd.date_range(end=HISTORY_END, periods=HISTORY_DAYS, freq="D")
    breaks = holiday_break_days(calendar[0].date(), HISTORY_END)
    day_factor = WEEKLY_PATTERN[calendar.dayofweek.to_numpy()] * np.where(
        [day.date() in breaks for day in calendar], HOLIDAY_LIFT, 1.0
    )
    sku_level = rng.gamma(2.0, 8.0, skus)
    warehouse_weight = rng.dirichlet(np.ones(len(WAREHOUSES)) * 2.0, skus)
    means = (sku_level[:, None] * warehouse_weight)[:, :, None] * day_factor[None, None, :]
    units = rng.poisson(means)  # sku × warehouse × day
    sku_index, warehouse_index, day_index = np.indices(units.shape)
    return pd.DataFrame(
        {
            "sku_id": sku_index.ravel() + 1,
            "warehouse_id": np.array(list(WAREHOUSES))[warehouse_index.ravel()],
            "day": calendar.date[day_index.ravel()],
            "units": units.ravel(),
        }
    )


def past_sessions(rng: np.random.Generator, skus: int, sessions: int) -> list[PastSession]:
    host_conversion = rng.lognormal(0.0, 0.5, HOSTS)
    sku_conversion = rng.lognormal(0.0, 0.5, skus)
    first = dt.datetime.combine(
        HISTORY_END - dt.timedelta(days=math.ceil(sessions * 1.5)), dt.time(12), dt.UTC
    )
    lines = []
    for number in range(sessions):
        host = int(rng.integers(HOSTS))
        starts_at = first + dt.timedelta(hours=36 * number)
        for sku in rng.choice(skus, SKUS_PER_SESSION, replace=False):
            reservations = int(rng.lognormal(4.5, 1.0))
            interest = float(rng.lognormal(0.0, 0.4))
            depth = float(rng.choice([0.0, 0.1, 0.2, 0.3, 0.5]))
            mean = (
                (reservations + 1)
                * 0.25
                * host_conversion[host]
                * sku_conversion[sku]
                * math.exp(1.5 * depth)
                * math.sqrt(interest)
            )
            lines.append(
                PastSession(
                    session_id=f"L{number:04d}",
                    sku_id=int(sku) + 1,
                    starts_at=starts_at,
                    host_id=host,
                    reservations=reservations,
                    page_views=int(3 * (reservations + 1) * interest),
                    shares=int(rng.poisson(0.1 * (reservations + 1))),
                    list_price_fen=2990,
                    session_price_fen=round(2990 * (1 - depth)),
                    units_sold=int(rng.poisson(mean)),
                    viewers=int(reservations * rng.uniform(3, 8)),
                )
            )
    return lines


def baseline_holdout(demand: pd.DataFrame) -> tuple[float | None, float | None, float]:
    """WAPE of the baseline and of 'same weekday last week' on the last HOLDOUT_DAYS."""
    cut = HISTORY_END - dt.timedelta(days=HOLDOUT_DAYS)
    train = demand[demand["day"] <= cut]
    test = demand[demand["day"] > cut]
    started = time.perf_counter()
    forecast = baseline_forecast(train, history_end=cut, days=sorted(set(test["day"])))
    seconds = time.perf_counter() - started
    keys = ["sku_id", "warehouse_id", "day"]
    joined = test.merge(forecast[[*keys, "units"]], on=keys, suffixes=("", "_forecast"))
    last_week = train[train["day"] > cut - dt.timedelta(days=7)].copy()
    joined["weekday"] = [day.weekday() for day in joined["day"]]
    last_week["weekday"] = [day.weekday() for day in last_week["day"]]
    joined = joined.merge(
        last_week[["sku_id", "warehouse_id", "weekday", "units"]].rename(
            columns={"units": "units_naive"}
        ),
        on=["sku_id", "warehouse_id", "weekday"],
    )
    return (
        wape(joined["units"], joined["units_forecast"]),
        wape(joined["units"], joined["units_naive"]),
        seconds,
    )


def coming_session(rng: np.random.Generator, skus: int) -> list[SessionPlan]:
    starts_at = dt.datetime.combine(HISTORY_END + dt.timedelta(days=3), dt.time(12), dt.UTC)
    plans = []
    for sku in rng.choice(skus, SKUS_PER_SESSION, replace=False):
        reservations = int(rng.lognormal(4.5, 1.0))
        plans.append(
            SessionPlan(
                session_id="NEXT",
                sku_id=int(sku) + 1,
                starts_at=starts_at,
                host_id=int(rng.integers(HOSTS)),
                reservations=reservations,
                page_views=3 * (reservations + 1),
                shares=(reservations + 1) // 10,
                list_price_fen=2990,
                session_price_fen=2390,
            )
        )
    return plans


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="40 SKUs / 60 sessions")
    parser.add_argument("--skus", type=int, default=None)
    parser.add_argument("--sessions", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    skus = args.skus or (40 if args.quick else 200)
    sessions = args.sessions or (60 if args.quick else 120)
    rng = np.random.default_rng(args.seed)

    demand = daily_demand(rng, skus)
    history = past_sessions(rng, skus, sessions)
    plans = coming_session(rng, skus)

    baseline_wape, naive_baseline_wape, baseline_seconds = baseline_holdout(demand)

    started = time.perf_counter()
    report = backtest(history)
    backtest_seconds = time.perf_counter() - started

    started = time.perf_counter()
    forecasts = forecast_session(plans, history, demand, history_end=HISTORY_END)
    # Stock from half to 2.5× each warehouse's own forecast: some run short, some can give.
    stock = [
        AvailableStock(
            sku_id=row.sku_id,
            warehouse_id=row.warehouse_id,
            warehouse_name=WAREHOUSES[row.warehouse_id],
            available_units=int(row.total_units * rng.uniform(0.5, 2.5)),
        )
        for row in forecasts
    ]
    policy = SafetyStockPolicy(session_wape=report.wape_model or SafetyStockPolicy.session_wape)
    alerts = stock_alerts(forecasts, stock, policy=policy)
    session_seconds = time.perf_counter() - started

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    emit(
        {
            "skus": skus,
            "sessions": sessions,
            "lines": len(history),
            "compared": report.compared,
            "seconds": round(backtest_seconds + session_seconds, 3),
            "mape_model": rounded(report.mape_model),
            "mape_naive": rounded(report.mape_naive),
            "wape_model": rounded(report.wape_model),
            "wape_naive": rounded(report.wape_naive),
            "backtest_seconds": round(backtest_seconds, 3),
            "session_seconds": round(session_seconds, 3),
            "baseline_series": len(demand.groupby(["sku_id", "warehouse_id"])),
            "baseline_wape": rounded(baseline_wape),
            "baseline_wape_seasonal_naive": rounded(naive_baseline_wape),
            "baseline_seconds": round(baseline_seconds, 3),
            "alerts": len(alerts),
            "transfers": sum(len(alert.transfers) for alert in alerts),
            "purchases": sum(1 for alert in alerts if alert.purchase_units > 0),
            "example_alert": alerts[0].reason if alerts else None,
            "peak_mb": peak_mb(),
        }
    )


if __name__ == "__main__":
    main()
