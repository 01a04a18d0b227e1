"""Live-heat demand forecast (SPEC DH-8): how many units of each SKU a scheduled live session
will need at each warehouse, how good that forecast has been on past sessions, and which
warehouses will run short.

Pure functions on typed inputs, no database: the caller gathers live sessions, reservations,
pre-live page views and shares, units sold per session, daily demand and stock, and stores
what comes back. Nothing here reads the clock either: `history_end` says which day the
history runs up to.

Demand of a SKU at a warehouse on the session day

    demand = baseline(day) + live_units × share(warehouse)

**Baseline** — the regular, non-live daily demand per SKU × warehouse (`baseline_forecast`).
The caller passes daily units *without* the units sold inside live sessions, otherwise the
baseline would count every past session's spike a second time.

* Chinese public holidays (`holidays`, country CN) are an adjustment, not a regressor: a
  holiday break is each run of consecutive days off (holidays, and the weekends joined to
  them) holding at least one public holiday. A multiplicative holiday factor is measured on
  past breaks — units on break days over the mean of the same weekday one to four weeks
  either side (break days excluded) — pooled over every series, then per series shrunk
  towards the pooled factor with a prior worth `HOLIDAY_PRIOR_DAYS` break days. The history
  is divided by the factor on break days before fitting and the forecast multiplied by it on
  break days ahead. With no break in the history the factor is 1.
* ≥ `MIN_DAYS_FOR_ETS` (28) days of history: statsforecast `AutoETS(season_length=7,
  model="ZNA")` — a level plus an additive weekly season, error type (additive or
  multiplicative) chosen by AICc. No trend: over a 1–14 day horizon a fitted trend in food
  demand mostly extrapolates last week's promotion; and ZNA fits ~10 ms a series where the
  full ZZZ search takes ~90 ms. A series ETS cannot fit falls back to statsforecast's
  `SeasonalWindowAverage` (mean of the same weekday over the last four weeks).
* 7–27 days, or a series that never sold: the mean of the same weekday over the days there
  are ("seasonal_mean").
* 1–6 days: the plain mean ("mean"). A series starts on its first row; missing days after
  that up to `history_end` are zero sales.
* σ of the daily noise: the standard deviation, over the last 56 days, of the (holiday-
  adjusted) units around their weekday means, never below √forecast (Poisson noise), so a
  short flat history does not promise certainty.

**Live units** — what the session itself sells of the SKU (`session_units_forecast`).
Features per session line (one SKU in one session): log(1 + reservations), log(1 + pre-live
page views), log(1 + shares), flash-sale / live discount depth (1 − session price / list
price), and three conversion effects from earlier sessions only: the host's units per
(reservation + 1), the product's units per (reservation + 1), the host's units per viewer.
Each is shrunk towards the all-session rate with a prior worth `CONVERSION_PRIOR_SESSIONS`
sessions and enters as log(rate / all-session rate), bounded to ±3. Viewers of a coming
session are unknown, so the viewer funnel enters only as the host's past conversion.

* ≥ `MIN_LINES_FOR_REGRESSION` (20) earlier session lines: a Poisson GLM — log link, light
  L2 on standardised features: scikit-learn's `PoissonRegressor` objective, solved by Newton
  steps in numpy (`poisson_glm_fit` says why). Units are counts whose spread grows with their
  size, and a log link makes reservations × conversion a sum of logs, so a handful of
  coefficients carry it; it is deterministic and fits in about a millisecond, which a rolling
  backtest (one fit per session) needs. LightGBM was not chosen: with ~100 sessions a few
  trees cannot extrapolate to a session larger than any seen.
* fewer lines (but at least one): the ratio rule, units = (reservations + 1) × all-session
  rate × host effect × product effect (price is ignored — too few sessions to learn it).
* no earlier session at all: `ForecastTooLittleData`.

**Warehouse split**: each warehouse's share of the SKU's units over the last 28 days of the
history; all history when those are zero; equal shares when the SKU never sold.

**Backtest** (`backtest`): rolling origin over past sessions — each session is forecast by a
model fitted only on sessions that started strictly before it (the same code path as a real
forecast), against the naive forecast "the units of the last comparable session: same SKU
and same host, else same SKU". Metrics over the lines both can forecast; fractions, not
percent: MAPE = mean |actual − forecast| / actual over lines with actual > 0; WAPE =
Σ|actual − forecast| / Σ actual. It evaluates live units only, which is what the naive rule
predicts; the baseline is statsforecast's, checked by the benchmark on a holdout.

**Safety stock** (`safety_stock_units`): z(service level) × √(σ_day² × (1 + lead time) +
σ_live²). The protection interval is the session day plus the replenishment lead time;
σ_live = √(π/2) × WAPE × live units — the backtest's WAPE is the mean absolute error per unit
forecast, and √(π/2) turns a mean absolute error into a standard deviation for normal errors.

**Stock alerts** (`stock_alerts`), per SKU, deterministic: a warehouse is short when demand
+ safety stock (each rounded up to whole units) exceeds its available stock; others have a
surplus of available − demand − safety stock. Shortages, largest first, take transfers from
the largest surplus first (ties by warehouse id); what no surplus covers is a purchase.

Errors: bad input (missing columns, negative counts, a naive start time, a duplicated line,
a session day not after `history_end`, …) raises `ForecastInvalid` (422,
`intelligence_forecast_invalid`); no earlier session at all, or a SKU with no daily demand
anywhere, raises `ForecastTooLittleData` (409, `intelligence_forecast_too_little_data`).
Both carry a Chinese message.

Limits: one holiday factor for every festival (春节 and 清明 alike) and none for stocking up
before a festival; makeup working days (调休) are treated as ordinary weekdays/weekends;
transfers ignore distance, cost and cold-chain compatibility (pass only warehouses that can
hold the SKU); `stock_alerts` checks one session at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Any, Literal
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pandas as pd

from freshloop.core.errors import InvalidInput
from freshloop.intelligence.errors import TooLittleData

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK_DAYS = 7

MIN_DAYS_FOR_ETS = 28
RECENT_SHARE_DAYS = 28
NOISE_WINDOW_DAYS = 56
HOLIDAY_NEIGHBOUR_WEEKS = 4
HOLIDAY_PRIOR_DAYS = 7.0
HOLIDAY_FACTOR_BOUNDS = (0.2, 5.0)

MIN_LINES_FOR_REGRESSION = 20
CONVERSION_PRIOR_SESSIONS = 2.0
LOG_EFFECT_BOUND = 3.0
GLM_ALPHA = 1e-3
GLM_MAX_ITERATIONS = 100
GLM_TOLERANCE = 1e-8

MAD_TO_SIGMA = math.sqrt(math.pi / 2)
DAILY_DEMAND_COLUMNS = ("sku_id", "warehouse_id", "day", "units")
FEATURE_NAMES = (
    "log_reservations",
    "log_page_views",
    "log_shares",
    "discount_depth",
    "host_effect",
    "product_effect",
    "host_viewer_effect",
)

BaselineMethod = Literal["auto_ets", "seasonal_mean", "mean"]
LiveMethod = Literal["poisson_glm", "ratio"]


class ForecastInvalid(InvalidInput):
    code = "intelligence_forecast_invalid"
    message = "需求预测的输入有误，请检查后重试"


class ForecastTooLittleData(TooLittleData):
    code = "intelligence_forecast_too_little_data"
    message = "历史数据太少，暂时无法预测这场直播的需求"


# --- inputs --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SessionPlan:
    """One SKU in one live session, as known before the session starts."""

    session_id: str
    sku_id: int
    starts_at: dt.datetime  # aware
    host_id: int | None
    reservations: int
    page_views: int  # pre-live views of the session's preview page
    shares: int  # pre-live shares of the session
    list_price_fen: int
    session_price_fen: int  # the live / flash-sale price

    @property
    def day(self) -> dt.date:
        """The session's calendar day in Asia/Shanghai."""
        return self.starts_at.astimezone(SHANGHAI).date()

    @property
    def discount_depth(self) -> float:
        """1 − session price / list price; a price above list is no discount."""
        return max(0.0, 1.0 - self.session_price_fen / self.list_price_fen)


@dataclasses.dataclass(frozen=True)
class PastSession(SessionPlan):
    """A session line that happened: `units_sold` are the units of this SKU sold in the
    session (paid, net of refunds); `viewers` the session's distinct viewers when known."""

    units_sold: int
    viewers: int | None = None


@dataclasses.dataclass(frozen=True)
class AvailableStock:
    sku_id: int
    warehouse_id: int
    warehouse_name: str
    available_units: int  # on hand − reserved, for the session day


@dataclasses.dataclass(frozen=True)
class SafetyStockPolicy:
    service_level: float = 0.95  # chance the session day's demand is covered
    lead_time_days: float = 2.0  # replenishment lead time (transfer or purchase)
    session_wape: float = 0.35  # the backtest's `wape_model`; 0.35 until one has run


# --- outputs -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SessionUnitsForecast:
    session_id: str
    sku_id: int
    units: float
    method: LiveMethod
    training_lines: int  # earlier session lines the forecast learned from


@dataclasses.dataclass(frozen=True)
class WarehouseForecast:
    """Demand of one SKU at one warehouse on a session's day."""

    session_id: str
    sku_id: int
    warehouse_id: int
    day: dt.date
    baseline_units: float
    baseline_sigma: float  # σ of the baseline's daily noise
    baseline_method: BaselineMethod
    live_units: float  # this warehouse's part of the session's units
    live_method: LiveMethod
    share: float

    @property
    def total_units(self) -> float:
        return self.baseline_units + self.live_units


@dataclasses.dataclass(frozen=True)
class BacktestReport:
    """`lines`: one row per past session line, in start order — session_id, sku_id, host_id,
    starts_at, actual, model_units, model_method, naive_units (NaN where that forecast had
    nothing to go on). The metrics cover the `compared` lines both forecasts have."""

    lines: pd.DataFrame
    compared: int
    mape_model: float | None
    mape_naive: float | None
    wape_model: float | None
    wape_naive: float | None


@dataclasses.dataclass(frozen=True)
class Transfer:
    from_warehouse_id: int
    from_warehouse_name: str
    units: int


@dataclasses.dataclass(frozen=True)
class StockAlert:
    session_id: str
    sku_id: int
    warehouse_id: int
    warehouse_name: str
    demand_units: int
    safety_stock_units: int
    available_units: int
    shortfall_units: int
    transfers: tuple[Transfer, ...]
    purchase_units: int
    reason: str


# --- metrics -------------------------------------------------------------------------------


def mape(
    actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray
) -> float | None:
    """Mean |actual − forecast| / actual over the lines with actual > 0 (a zero actual has no
    percentage error); None when there is none."""
    actual_values, forecast_values = _paired(actual, forecast)
    positive = actual_values > 0
    if not positive.any():
        return None
    errors = np.abs(actual_values[positive] - forecast_values[positive]) / actual_values[positive]
    return float(errors.mean())


def wape(
    actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray
) -> float | None:
    """Σ|actual − forecast| / Σ actual; None when nothing was sold."""
    actual_values, forecast_values = _paired(actual, forecast)
    total = float(actual_values.sum())
    if total <= 0:
        return None
    return float(np.abs(actual_values - forecast_values).sum() / total)


def _paired(
    actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    actual_values = np.asarray(actual, dtype=float)
    forecast_values = np.asarray(forecast, dtype=float)
    if actual_values.shape != forecast_values.shape or actual_values.ndim != 1:
        raise ForecastInvalid("实际值与预测值的个数不一致")
    if not (np.isfinite(actual_values).all() and np.isfinite(forecast_values).all()):
        raise ForecastInvalid("实际值与预测值必须是有限的数字")
    if (actual_values < 0).any():
        raise ForecastInvalid("实际销量不能为负")
    return actual_values, forecast_values


# --- holidays ------------------------------------------------------------------------------


def holiday_break_days(start: dt.date, end: dt.date) -> frozenset[dt.date]:
    """Days in [start, end] that belong to a Chinese public-holiday break: each run of
    consecutive days off (public holidays and Saturdays/Sundays) holding at least one public
    holiday — so 国庆's weekend days count, an ordinary weekend does not."""
    if end < start:
        return frozenset()
    # A week of margin either side so a run crossing `start` or `end` is still seen whole.
    first, last = start - dt.timedelta(days=WEEK_DAYS), end + dt.timedelta(days=WEEK_DAYS)
    public = holidays.country_holidays("CN", years=range(first.year, last.year + 1))
    breaks: set[dt.date] = set()
    run: list[dt.date] = []
    run_has_holiday = False
    day = first
    while day <= last + dt.timedelta(days=1):
        is_holiday = day in public and day <= last
        if day <= last and (is_holiday or day.weekday() >= 5):
            run.append(day)
            run_has_holiday = run_has_holiday or is_holiday
        else:
            if run_has_holiday:
                breaks.update(run)
            run, run_has_holiday = [], False
        day += dt.timedelta(days=1)
    return frozenset(d for d in breaks if start <= d <= end)


# --- baseline ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _DemandHistory:
    """Daily demand as a dense matrix: one row per (sku, warehouse), one column per day from
    the earliest row to `history_end`; NaN before a series' first row, zero for missing days
    after it."""

    keys: list[tuple[int, int]]
    start: dt.date
    units: np.ndarray  # series × days
    first_column: np.ndarray  # index of each series' first day


def baseline_forecast(
    daily_demand: pd.DataFrame,
    *,
    history_end: dt.date,
    days: Iterable[dt.date],
    sku_ids: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Forecast the regular daily demand of every (sku, warehouse) in `daily_demand` (or only
    the SKUs in `sku_ids`) on each of `days`, all after `history_end`.

    `daily_demand`: columns sku_id, warehouse_id, day, units — one row per series and day,
    live-session units excluded. Returns columns sku_id, warehouse_id, day, units, sigma,
    method, holiday_factor, one row per series and requested day."""
    history = _demand_history(daily_demand, history_end=history_end)
    return _baseline(history, history_end=history_end, days=days, sku_ids=sku_ids)


def _baseline(
    history: _DemandHistory,
    *,
    history_end: dt.date,
    days: Iterable[dt.date],
    sku_ids: Iterable[int] | None,
) -> pd.DataFrame:
    wanted_days = sorted(set(days))
    if not wanted_days:
        raise ForecastInvalid("请指定要预测的日期")
    if wanted_days[0] <= history_end:
        raise ForecastInvalid(
            f"预测日期 {wanted_days[0].isoformat()} 必须晚于历史截止日 {history_end.isoformat()}"
        )
    horizon = (wanted_days[-1] - history_end).days
    calendar = [history.start + dt.timedelta(days=i) for i in range(history.units.shape[1])]
    breaks = holiday_break_days(history.start, wanted_days[-1])
    is_break = np.array([day in breaks for day in calendar], dtype=bool)
    factors = _holiday_factors(history.units, is_break)
    adjusted = history.units.copy()
    adjusted[:, is_break] = adjusted[:, is_break] / factors[:, None]

    wanted_skus = None if sku_ids is None else set(sku_ids)
    rows = [
        i for i, (sku, _) in enumerate(history.keys) if wanted_skus is None or sku in wanted_skus
    ]
    lengths = history.units.shape[1] - history.first_column
    future = [history_end + dt.timedelta(days=step) for step in range(1, horizon + 1)]
    future_weekdays = np.array([day.weekday() for day in future])
    calendar_weekdays = np.array([day.weekday() for day in calendar])

    paths = np.zeros((len(history.keys), horizon))
    methods: dict[int, BaselineMethod] = {}
    ets_rows = []
    for i in rows:
        series = adjusted[i, history.first_column[i] :]
        if lengths[i] >= MIN_DAYS_FOR_ETS and series.any():
            ets_rows.append(i)
            methods[i] = "auto_ets"
        elif lengths[i] >= WEEK_DAYS:
            weekdays = calendar_weekdays[history.first_column[i] :]
            means = np.array([series[weekdays == w].mean() for w in range(WEEK_DAYS)])
            paths[i] = means[future_weekdays]
            methods[i] = "seasonal_mean"
        else:
            paths[i] = series.mean()
            methods[i] = "mean"
    if ets_rows:
        paths[ets_rows] = _ets_paths(adjusted, history, ets_rows, horizon)
    paths = np.clip(paths, 0.0, None)

    wanted_columns = [(day - history_end).days - 1 for day in wanted_days]
    records = []
    for i in rows:
        sku, warehouse = history.keys[i]
        noise = _daily_noise(
            adjusted[i, history.first_column[i] :], calendar_weekdays[history.first_column[i] :]
        )
        for day, column in zip(wanted_days, wanted_columns, strict=True):
            factor = float(factors[i]) if day in breaks else 1.0
            units = float(paths[i, column]) * factor
            records.append(
                {
                    "sku_id": sku,
                    "warehouse_id": warehouse,
                    "day": day,
                    "units": units,
                    "sigma": max(noise * factor, math.sqrt(units)),
                    "method": methods[i],
                    "holiday_factor": factor,
                }
            )
    columns = ["sku_id", "warehouse_id", "day", "units", "sigma", "method", "holiday_factor"]
    return pd.DataFrame.from_records(records, columns=columns)


def _ets_paths(
    adjusted: np.ndarray, history: _DemandHistory, rows: list[int], horizon: int
) -> np.ndarray:
    # statsforecast pulls in numba-compiled models: ~1.8 s to import, so only when used.
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalWindowAverage

    frames = []
    for i in rows:
        first = int(history.first_column[i])
        series = adjusted[i, first:]
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": i,
                    "ds": pd.date_range(
                        history.start + dt.timedelta(days=first), periods=len(series), freq="D"
                    ),
                    "y": series,
                }
            )
        )
    model = StatsForecast(
        models=[AutoETS(season_length=WEEK_DAYS, model="ZNA")],
        freq="D",
        n_jobs=1,
        fallback_model=SeasonalWindowAverage(season_length=WEEK_DAYS, window_size=4),
    )
    forecast = model.forecast(df=pd.concat(frames, ignore_index=True), h=horizon)
    forecast = forecast.sort_values(["unique_id", "ds"])
    values = forecast["AutoETS"].to_numpy(dtype=float).reshape(len(rows), horizon)
    order = forecast["unique_id"].to_numpy().reshape(len(rows), horizon)[:, 0]
    by_row = dict(zip(order.tolist(), values, strict=True))
    return np.array([by_row[i] for i in rows])


def _holiday_factors(units: np.ndarray, is_break: np.ndarray) -> np.ndarray:
    """Per series: units on break days over the same weekday's mean 1–4 weeks either side,
    pooled over all series, then shrunk per series towards the pooled factor."""
    series_count, day_count = units.shape
    actual_sum = np.zeros(series_count)
    expected_sum = np.zeros(series_count)
    break_days = np.zeros(series_count)
    for column in np.flatnonzero(is_break[:day_count]):
        neighbours = [
            column + sign * WEEK_DAYS * weeks
            for weeks in range(1, HOLIDAY_NEIGHBOUR_WEEKS + 1)
            for sign in (-1, 1)
            if 0 <= column + sign * WEEK_DAYS * weeks < day_count
            and not is_break[column + sign * WEEK_DAYS * weeks]
        ]
        if not neighbours:
            continue
        around = units[:, neighbours]
        seen = (~np.isnan(around)).sum(axis=1)
        expected = np.where(seen > 0, np.nansum(around, axis=1) / np.maximum(seen, 1), np.nan)
        actual = units[:, column]
        usable = ~np.isnan(actual) & ~np.isnan(expected)
        actual_sum[usable] += actual[usable]
        expected_sum[usable] += expected[usable]
        break_days[usable] += 1
    low, high = HOLIDAY_FACTOR_BOUNDS
    if expected_sum.sum() <= 0:
        return np.ones(series_count)
    pooled = float(np.clip(actual_sum.sum() / expected_sum.sum(), low, high))
    # The prior is worth HOLIDAY_PRIOR_DAYS break days at the series' own level, so a series
    # seen on a handful of break days moves only part of the way from the pooled factor.
    level = expected_sum / np.maximum(break_days, 1)
    prior = HOLIDAY_PRIOR_DAYS * level
    denominator = expected_sum + prior
    own = np.where(
        denominator > 0,
        (actual_sum + pooled * prior) / np.where(denominator > 0, denominator, 1),
        pooled,
    )
    return np.clip(own, low, high)


def _daily_noise(series: np.ndarray, weekdays: np.ndarray) -> float:
    """σ of the last NOISE_WINDOW_DAYS around their weekday means (plain mean when shorter
    than two weeks)."""
    recent, recent_weekdays = series[-NOISE_WINDOW_DAYS:], weekdays[-NOISE_WINDOW_DAYS:]
    if len(recent) < 2:
        return 0.0
    if len(recent) >= 2 * WEEK_DAYS:
        means = np.array([recent[recent_weekdays == w].mean() for w in range(WEEK_DAYS)])
        residuals = recent - means[recent_weekdays]
    else:
        residuals = recent - recent.mean()
    return float(np.std(residuals, ddof=1))


def _demand_history(daily_demand: pd.DataFrame, *, history_end: dt.date) -> _DemandHistory:
    if not isinstance(daily_demand, pd.DataFrame):
        raise ForecastInvalid("日销量必须是表格（DataFrame）")
    missing = [c for c in DAILY_DEMAND_COLUMNS if c not in daily_demand.columns]
    if missing:
        raise ForecastInvalid(f"日销量表缺少列：{', '.join(missing)}")
    if daily_demand.empty:
        raise ForecastTooLittleData("没有任何日销量记录，无法估计基线需求")
    try:
        skus = daily_demand["sku_id"].astype("int64").to_numpy()
        warehouses = daily_demand["warehouse_id"].astype("int64").to_numpy()
        days = pd.to_datetime(daily_demand["day"]).to_numpy().astype("datetime64[D]")
        units = pd.to_numeric(daily_demand["units"]).to_numpy(dtype=float)
    except (TypeError, ValueError) as error:
        raise ForecastInvalid("日销量表的商品、仓库、日期或件数格式不对") from error
    if not np.isfinite(units).all() or (units < 0).any():
        raise ForecastInvalid("日销量的件数必须是不小于 0 的数字")
    end = np.datetime64(history_end, "D")
    if (days > end).any():
        raise ForecastInvalid(f"日销量中有晚于历史截止日 {history_end.isoformat()} 的记录")
    frame = pd.DataFrame({"sku_id": skus, "warehouse_id": warehouses, "day": days, "units": units})
    if frame.duplicated(["sku_id", "warehouse_id", "day"]).any():
        raise ForecastInvalid("日销量中同一商品、同一仓、同一天出现了多行")
    start = days.min()
    day_count = int((end - start).astype(int)) + 1
    keys_frame = (
        frame[["sku_id", "warehouse_id"]].drop_duplicates().sort_values(["sku_id", "warehouse_id"])
    )
    keys = [(int(s), int(w)) for s, w in keys_frame.itertuples(index=False)]
    index = {key: i for i, key in enumerate(keys)}
    row_of = np.array([index[(int(s), int(w))] for s, w in zip(skus, warehouses, strict=True)])
    column_of = (days - start).astype(int)
    matrix = np.zeros((len(keys), day_count))
    matrix[row_of, column_of] = units
    first_column = np.full(len(keys), day_count)
    np.minimum.at(first_column, row_of, column_of)
    before_first = np.arange(day_count)[None, :] < first_column[:, None]
    matrix[before_first] = np.nan
    return _DemandHistory(
        keys=keys,
        start=pd.Timestamp(start).date(),
        units=matrix,
        first_column=first_column,
    )


def warehouse_shares(
    daily_demand: pd.DataFrame, *, history_end: dt.date, sku_ids: Iterable[int] | None = None
) -> dict[tuple[int, int], float]:
    """(sku, warehouse) → the warehouse's share of the SKU's units over the last
    RECENT_SHARE_DAYS days of history; all history when those are zero; equal when the SKU
    never sold. The shares of a SKU add up to 1."""
    return _shares(_demand_history(daily_demand, history_end=history_end), sku_ids)


def _shares(history: _DemandHistory, sku_ids: Iterable[int] | None) -> dict[tuple[int, int], float]:
    wanted = None if sku_ids is None else set(sku_ids)
    recent = np.nansum(history.units[:, -RECENT_SHARE_DAYS:], axis=1)
    overall = np.nansum(history.units, axis=1)
    rows_by_sku: dict[int, list[int]] = {}
    for i, (sku, _) in enumerate(history.keys):
        if wanted is None or sku in wanted:
            rows_by_sku.setdefault(sku, []).append(i)
    shares: dict[tuple[int, int], float] = {}
    for rows in rows_by_sku.values():
        weights = recent[rows]
        if weights.sum() <= 0:
            weights = overall[rows]
        if weights.sum() <= 0:
            weights = np.ones(len(rows))
        for i, weight in zip(rows, weights / weights.sum(), strict=True):
            shares[history.keys[i]] = float(weight)
    return shares


# --- live units ----------------------------------------------------------------------------


def session_units_forecast(
    plans: Sequence[SessionPlan], history: Sequence[PastSession]
) -> list[SessionUnitsForecast]:
    """Forecast the units each planned session line will sell in the session, learning only
    from the past session lines that started strictly before it."""
    _lines_validate(plans, past=False)
    _lines_validate(history, past=True)
    if not plans:
        return []
    past = _lines_frame(history)
    planned = _lines_frame(plans)
    results: dict[tuple[str, int], SessionUnitsForecast] = {}
    for moment, targets in planned.groupby("t", sort=True):
        prior = past[past["t"] < moment]
        units, method = _live_units(prior, targets)
        if units is None:
            raise ForecastTooLittleData(
                "还没有任何更早的直播场次可供学习，无法预测直播销量",
                detail={"session_ids": sorted(set(targets["session_id"]))},
            )
        for (session_id, sku_id), value in zip(
            targets[["session_id", "sku_id"]].itertuples(index=False), units, strict=True
        ):
            results[(str(session_id), int(sku_id))] = SessionUnitsForecast(
                session_id=str(session_id),
                sku_id=int(sku_id),
                units=float(value),
                method=method,
                training_lines=len(prior),
            )
    return [results[(plan.session_id, plan.sku_id)] for plan in plans]


def _lines_validate(lines: Sequence[SessionPlan], *, past: bool) -> None:
    seen: set[tuple[str, int]] = set()
    for line in lines:
        where = f"场次 {line.session_id} 商品 {line.sku_id}"
        if past and not isinstance(line, PastSession):
            raise ForecastInvalid(f"{where}：历史场次必须带实际销量")
        if line.starts_at.tzinfo is None or line.starts_at.utcoffset() is None:
            raise ForecastInvalid(f"{where}：开播时间必须带时区")
        for label, value in (
            ("预约数", line.reservations),
            ("预热页浏览数", line.page_views),
            ("分享数", line.shares),
            ("直播价", line.session_price_fen),
        ):
            if value < 0:
                raise ForecastInvalid(f"{where}：{label}不能为负")
        if line.list_price_fen <= 0:
            raise ForecastInvalid(f"{where}：原价必须大于 0")
        if isinstance(line, PastSession):
            if line.units_sold < 0:
                raise ForecastInvalid(f"{where}：实际销量不能为负")
            if line.viewers is not None and line.viewers < 0:
                raise ForecastInvalid(f"{where}：观看人数不能为负")
        key = (line.session_id, line.sku_id)
        if key in seen:
            raise ForecastInvalid(f"{where}：同一场次的同一商品出现了多次")
        seen.add(key)


def _lines_frame(lines: Sequence[SessionPlan]) -> pd.DataFrame:
    records = []
    for line in lines:
        units_sold = line.units_sold if isinstance(line, PastSession) else None
        viewers = line.viewers if isinstance(line, PastSession) else None
        records.append(
            {
                "session_id": line.session_id,
                "sku_id": line.sku_id,
                "starts_at": line.starts_at,
                "t": pd.Timestamp(line.starts_at).value,  # UTC nanoseconds: orders moments
                "reservations": float(line.reservations),
                "page_views": float(line.page_views),
                "shares": float(line.shares),
                "discount_depth": line.discount_depth,
                "units": np.nan if units_sold is None else float(units_sold),
                "viewers": np.nan if viewers is None else float(viewers),
            }
        )
    columns = [
        "session_id",
        "sku_id",
        "host_id",
        "starts_at",
        "t",
        "reservations",
        "page_views",
        "shares",
        "discount_depth",
        "units",
        "viewers",
    ]
    frame = pd.DataFrame.from_records(records, columns=columns)
    # Built apart so ids stay ints and "no host" stays None (a mixed column would be floats/NaN).
    frame["host_id"] = pd.Series([line.host_id for line in lines], dtype="object")
    return frame.sort_values(["t", "session_id", "sku_id"], kind="stable").reset_index(drop=True)


def _live_units(prior: pd.DataFrame, targets: pd.DataFrame) -> tuple[np.ndarray | None, LiveMethod]:
    """Units for `targets` (lines of one moment) learned from `prior` (lines strictly before
    it); None when there is no prior line at all."""
    if prior.empty:
        return None, "ratio"
    blind = targets.assign(units=np.nan, viewers=np.nan)  # a target never informs itself
    combined = pd.concat([prior, blind], ignore_index=True)
    features, global_rate = _features(combined)
    known = combined["units"].notna().to_numpy()
    target_rows = np.arange(len(prior), len(combined))
    # Lines of the very first session have no earlier rate to compare with: not trainable.
    trainable = known & np.isfinite(global_rate)
    if trainable.sum() >= MIN_LINES_FOR_REGRESSION:
        glm = poisson_glm_fit(
            features[trainable], combined["units"].to_numpy()[trainable], alpha=GLM_ALPHA
        )
        return glm.predict(features[target_rows]), "poisson_glm"
    reservations = combined["reservations"].to_numpy()[target_rows]
    host_effect = features[target_rows, FEATURE_NAMES.index("host_effect")]
    product_effect = features[target_rows, FEATURE_NAMES.index("product_effect")]
    rate = np.nan_to_num(global_rate[target_rows], nan=0.0)
    return (reservations + 1) * rate * np.exp(host_effect + product_effect), "ratio"


@dataclasses.dataclass(frozen=True)
class PoissonGlm:
    """A fitted Poisson GLM with log link on standardised features."""

    feature_means: np.ndarray
    feature_scales: np.ndarray
    intercept: float
    coefficients: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        standardised = (features - self.feature_means) / self.feature_scales
        return np.exp(np.clip(self.intercept + standardised @ self.coefficients, -50.0, 50.0))


def poisson_glm_fit(features: np.ndarray, counts: np.ndarray, *, alpha: float) -> PoissonGlm:
    """Fit log E[count] = intercept + standardised features · coefficients by Newton's method
    with step halving, minimising mean Poisson deviance / 2 + alpha / 2 · |coefficients|² —
    scikit-learn's `PoissonRegressor` objective (the intercept is not penalised).

    Written out instead of calling scikit-learn: its loss runs on OpenMP threads, which on a
    busy two-core host spin so hard that a rolling backtest (one fit per session) took 5–10×
    longer than single-threaded; Newton on seven features converges in a handful of steps."""
    means = features.mean(axis=0)
    scales = features.std(axis=0)
    scales = np.where(scales > 0, scales, 1.0)  # a constant feature stays 0 after centring
    design = np.column_stack([np.ones(len(features)), (features - means) / scales])
    rows, width = design.shape
    ridge = np.full(width, alpha)
    ridge[0] = 0.0

    def objective(beta: np.ndarray) -> float:
        linear = np.clip(design @ beta, -50.0, 50.0)
        return float((np.exp(linear) - counts * linear).mean() + 0.5 * (ridge * beta**2).sum())

    beta = np.zeros(width)
    beta[0] = math.log(max(float(counts.mean()), 1e-9))
    current = objective(beta)
    for _ in range(GLM_MAX_ITERATIONS):
        expected = np.exp(np.clip(design @ beta, -50.0, 50.0))
        gradient = design.T @ (expected - counts) / rows + ridge * beta
        hessian = (design.T * expected) @ design / rows + np.diag(ridge)
        # A tiny jitter keeps the solve defined when a feature is collinear with others.
        step = np.linalg.solve(hessian + 1e-10 * np.eye(width), gradient)
        scale = 1.0
        while scale > 1e-6:
            candidate = beta - scale * step
            value = objective(candidate)
            if value <= current:
                break
            scale /= 2
        else:
            break  # no descent left: at the optimum to machine precision
        beta, previous, current = candidate, current, value
        if abs(previous - current) <= GLM_TOLERANCE * max(1.0, abs(current)):
            break
    return PoissonGlm(
        feature_means=means, feature_scales=scales, intercept=float(beta[0]), coefficients=beta[1:]
    )


def _features(lines: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The feature matrix (columns of FEATURE_NAMES) and, per line, the all-session units per
    (reservation + 1) over the lines that started strictly before it (NaN for the first)."""
    known = lines["units"].notna()
    with_viewers = known & lines["viewers"].notna()
    contributions = pd.DataFrame(
        {
            "host_id": lines["host_id"],
            "sku_id": lines["sku_id"],
            "t": lines["t"],
            "units": lines["units"].fillna(0.0),
            "exposure": (lines["reservations"] + 1).where(known, 0.0),
            "sessions": known.astype(float),
            "viewer_units": lines["units"].where(with_viewers, 0.0),
            "viewers": lines["viewers"].where(with_viewers, 0.0),
            "viewer_sessions": with_viewers.astype(float),
        }
    )
    everyone = _earlier_totals(contributions, [])
    by_host = _earlier_totals(contributions, ["host_id"])
    by_product = _earlier_totals(contributions, ["sku_id"])

    global_rate = _ratio(everyone["units"], everyone["exposure"])
    global_viewer_rate = _ratio(everyone["viewer_units"], everyone["viewers"])
    host_effect = _shrunk_log_effect(
        by_host["units"], by_host["exposure"], by_host["sessions"], global_rate
    )
    product_effect = _shrunk_log_effect(
        by_product["units"], by_product["exposure"], by_product["sessions"], global_rate
    )
    host_viewer_effect = _shrunk_log_effect(
        by_host["viewer_units"], by_host["viewers"], by_host["viewer_sessions"], global_viewer_rate
    )
    features = np.column_stack(
        [
            np.log1p(lines["reservations"].to_numpy()),
            np.log1p(lines["page_views"].to_numpy()),
            np.log1p(lines["shares"].to_numpy()),
            lines["discount_depth"].to_numpy(),
            host_effect,
            product_effect,
            host_viewer_effect,
        ]
    )
    return features, global_rate


def _earlier_totals(contributions: pd.DataFrame, keys: list[str]) -> dict[str, np.ndarray]:
    """Per line, the sums of the contribution columns over lines with the same `keys` that
    started strictly earlier (lines of the same moment never see each other)."""
    columns = [c for c in contributions.columns if c not in ("host_id", "sku_id", "t")]
    grouping = [*keys, "t"]
    # dropna: a line without a host gets no host totals (NaN → 0 below), not a shared "None" host.
    at_moment = contributions.groupby(grouping, sort=True, dropna=True)[columns].sum()
    if keys:
        through_moment = at_moment.groupby(level=keys, sort=False).cumsum()
    else:
        through_moment = at_moment.cumsum()
    before_moment = (through_moment - at_moment).reset_index()
    joined = contributions[grouping].merge(before_moment, on=grouping, how="left")
    return {c: joined[c].fillna(0.0).to_numpy(dtype=float) for c in columns}


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, np.nan)


def _shrunk_log_effect(
    units: np.ndarray, exposure: np.ndarray, sessions: np.ndarray, global_rate: np.ndarray
) -> np.ndarray:
    """log(shrunk own rate / all-session rate): the own rate pulled towards the all-session
    rate with a prior worth CONVERSION_PRIOR_SESSIONS sessions; 0 when either is unknown."""
    own = np.nan_to_num(_ratio(units, exposure), nan=0.0)
    shrunk = (sessions * own + CONVERSION_PRIOR_SESSIONS * global_rate) / (
        sessions + CONVERSION_PRIOR_SESSIONS
    )
    usable = np.isfinite(global_rate) & (global_rate > 0) & (shrunk > 0)
    safe_global = np.where(usable, global_rate, 1.0)
    safe_shrunk = np.where(usable, shrunk, 1.0)
    effect = np.where(usable, np.log(safe_shrunk / safe_global), 0.0)
    return np.clip(effect, -LOG_EFFECT_BOUND, LOG_EFFECT_BOUND)


# --- the session forecast ------------------------------------------------------------------


def forecast_session(
    plans: Sequence[SessionPlan],
    history: Sequence[PastSession],
    daily_demand: pd.DataFrame,
    *,
    history_end: dt.date,
) -> list[WarehouseForecast]:
    """Demand per planned session line and warehouse on the session's day: the baseline of
    that day plus the session's units split by the warehouse's recent share of the SKU.

    Every session day must fall after `history_end`; a SKU with no daily demand at any
    warehouse cannot be placed (`ForecastTooLittleData`)."""
    _lines_validate(plans, past=False)
    if not plans:
        return []
    early = [plan for plan in plans if plan.day <= history_end]
    if early:
        raise ForecastInvalid(
            f"场次 {early[0].session_id} 在 {early[0].day.isoformat()}，必须晚于历史截止日 {history_end.isoformat()}"
        )
    demand = _demand_history(daily_demand, history_end=history_end)
    known_skus = {sku for sku, _ in demand.keys}
    unplaced = sorted({plan.sku_id for plan in plans} - known_skus)
    if unplaced:
        raise ForecastTooLittleData(
            f"商品 {unplaced[0]} 没有任何仓的日销量记录，无法估计基线和分仓",
            detail={"sku_ids": unplaced},
        )
    live = session_units_forecast(plans, history)
    sku_ids = {plan.sku_id for plan in plans}
    baseline = _baseline(
        demand, history_end=history_end, days={plan.day for plan in plans}, sku_ids=sku_ids
    )
    baseline_by_key = {
        (int(row.sku_id), int(row.warehouse_id), row.day): row
        for row in baseline.itertuples(index=False)
    }
    shares = _shares(demand, sku_ids)
    forecasts = []
    for plan, session_units in zip(plans, live, strict=True):
        warehouses = sorted(w for (sku, w) in shares if sku == plan.sku_id)
        for warehouse in warehouses:
            share = shares[(plan.sku_id, warehouse)]
            base = baseline_by_key[(plan.sku_id, warehouse, plan.day)]
            forecasts.append(
                WarehouseForecast(
                    session_id=plan.session_id,
                    sku_id=plan.sku_id,
                    warehouse_id=warehouse,
                    day=plan.day,
                    baseline_units=float(base.units),
                    baseline_sigma=float(base.sigma),
                    baseline_method=base.method,
                    live_units=session_units.units * share,
                    live_method=session_units.method,
                    share=share,
                )
            )
    return forecasts


# --- backtest ------------------------------------------------------------------------------


def backtest(history: Sequence[PastSession]) -> BacktestReport:
    """Rolling origin over past session lines: forecast each session's lines from the lines
    that started strictly before it, beside the naive "same as the last comparable session"
    (same SKU and host, else same SKU), and score both on the lines both could forecast."""
    _lines_validate(history, past=True)
    lines = _lines_frame(history)
    model_units = np.full(len(lines), np.nan)
    model_method: list[str | None] = [None] * len(lines)
    naive_units = np.full(len(lines), np.nan)
    last_by_sku_host: dict[tuple[int, Any], float] = {}
    last_by_sku: dict[int, float] = {}
    for moment, targets in lines.groupby("t", sort=True):
        prior = lines[lines["t"] < moment]
        units, method = _live_units(prior, targets)
        for offset, (position, row) in enumerate(
            zip(targets.index, targets.itertuples(index=False), strict=True)
        ):
            if units is not None:
                model_units[position] = units[offset]
                model_method[position] = method
            sku, host = int(row.sku_id), row.host_id
            if host is not None and (sku, host) in last_by_sku_host:
                naive_units[position] = last_by_sku_host[(sku, host)]
            elif sku in last_by_sku:
                naive_units[position] = last_by_sku[sku]
        # Only now, after this moment's forecasts, may its outcomes become "the last session".
        for row in targets.itertuples(index=False):
            last_by_sku[int(row.sku_id)] = float(row.units)
            if row.host_id is not None:
                last_by_sku_host[(int(row.sku_id), row.host_id)] = float(row.units)
    report = pd.DataFrame(
        {
            "session_id": lines["session_id"],
            "sku_id": lines["sku_id"],
            "host_id": lines["host_id"],
            "starts_at": lines["starts_at"],
            "actual": lines["units"],
            "model_units": model_units,
            "model_method": model_method,
            "naive_units": naive_units,
        }
    )
    both = report["model_units"].notna() & report["naive_units"].notna()
    actual = report.loc[both, "actual"].to_numpy()
    model = report.loc[both, "model_units"].to_numpy()
    naive = report.loc[both, "naive_units"].to_numpy()
    return BacktestReport(
        lines=report,
        compared=int(both.sum()),
        mape_model=mape(actual, model),
        mape_naive=mape(actual, naive),
        wape_model=wape(actual, model),
        wape_naive=wape(actual, naive),
    )


# --- safety stock and alerts ---------------------------------------------------------------


def safety_stock_units(forecast: WarehouseForecast, policy: SafetyStockPolicy) -> float:
    """z × √(σ_day² × (1 + lead time) + σ_live²), σ_live = √(π/2) × WAPE × live units."""
    _policy_validate(policy)
    z = NormalDist().inv_cdf(policy.service_level)
    live_sigma = MAD_TO_SIGMA * policy.session_wape * forecast.live_units
    daily_variance = forecast.baseline_sigma**2 * (1.0 + policy.lead_time_days)
    return z * math.sqrt(daily_variance + live_sigma**2)


def _policy_validate(policy: SafetyStockPolicy) -> None:
    if not 0.5 <= policy.service_level < 1.0:
        raise ForecastInvalid("服务水平必须在 0.5 到 1 之间（不含 1）")
    if policy.lead_time_days < 0:
        raise ForecastInvalid("补货提前期不能为负")
    if policy.session_wape < 0 or not math.isfinite(policy.session_wape):
        raise ForecastInvalid("直播预测误差（WAPE）必须是不小于 0 的数字")


def whole_units(value: float) -> int:
    # Round up — stock is counted in whole units — but let 420.0000001 stay 420.
    return max(0, math.ceil(value - 1e-6))


@dataclasses.dataclass(frozen=True)
class _Position:
    """One warehouse's side of a SKU: demand and safety stock in whole units, and what is
    left of its available stock after both (negative: short by that much)."""

    stock: AvailableStock
    forecast: WarehouseForecast | None
    demand: int
    safety: int

    @property
    def surplus(self) -> int:
        return self.stock.available_units - self.demand - self.safety


def _position(
    stock: AvailableStock, forecast: WarehouseForecast | None, policy: SafetyStockPolicy
) -> _Position:
    if forecast is None:  # stock but no demand forecast here: it can only give
        return _Position(stock=stock, forecast=None, demand=0, safety=0)
    return _Position(
        stock=stock,
        forecast=forecast,
        demand=whole_units(forecast.total_units),
        safety=whole_units(safety_stock_units(forecast, policy)),
    )


def stock_alerts(
    forecasts: Sequence[WarehouseForecast],
    stock: Sequence[AvailableStock],
    *,
    policy: SafetyStockPolicy | None = None,
) -> list[StockAlert]:
    """An alert for every warehouse whose forecast demand + safety stock exceeds its
    available stock, with transfers from warehouses with a surplus (available − own demand −
    own safety stock) and a purchase for what they cannot cover.

    `forecasts` are one session's (one row per SKU and warehouse); `stock` must hold a row
    for each of them and may hold more warehouses, which can only give."""
    chosen_policy = policy or SafetyStockPolicy()
    _policy_validate(chosen_policy)
    demand_by_key: dict[tuple[int, int], WarehouseForecast] = {}
    for forecast in forecasts:
        key = (forecast.sku_id, forecast.warehouse_id)
        if key in demand_by_key:
            raise ForecastInvalid(
                f"商品 {forecast.sku_id} 在仓 {forecast.warehouse_id} 有多条预测：一次只检查一场直播"
            )
        demand_by_key[key] = forecast
    stock_by_key: dict[tuple[int, int], AvailableStock] = {}
    for level in stock:
        key = (level.sku_id, level.warehouse_id)
        if key in stock_by_key:
            raise ForecastInvalid(f"商品 {level.sku_id} 在仓 {level.warehouse_id} 有多条库存")
        if level.available_units < 0:
            raise ForecastInvalid(f"{level.warehouse_name} 商品 {level.sku_id} 的可用库存不能为负")
        stock_by_key[key] = level
    unstocked = sorted(set(demand_by_key) - set(stock_by_key))
    if unstocked:
        sku, warehouse = unstocked[0]
        raise ForecastInvalid(f"缺少商品 {sku} 在仓 {warehouse} 的库存（没有库存请传 0）")

    alerts: list[StockAlert] = []
    for sku in sorted({sku for sku, _ in demand_by_key}):
        positions = [
            _position(stock_by_key[key], demand_by_key.get(key), chosen_policy)
            for key in sorted(k for k in stock_by_key if k[0] == sku)
        ]
        surplus = {p.stock.warehouse_id: p.surplus for p in positions if p.surplus > 0}
        names = {p.stock.warehouse_id: p.stock.warehouse_name for p in positions}
        short = sorted(
            (p for p in positions if p.surplus < 0),
            key=lambda p: (p.surplus, p.stock.warehouse_id),  # the largest shortfall first
        )
        for position in short:
            assert position.forecast is not None  # without demand a warehouse is never short
            shortfall = -position.surplus
            still_needed = shortfall
            transfers = []
            for donor in sorted(surplus, key=lambda w: (-surplus[w], w)):
                units = min(surplus[donor], still_needed)
                if units <= 0:
                    continue
                transfers.append(Transfer(donor, names[donor], units))
                surplus[donor] -= units
                still_needed -= units
            alerts.append(
                StockAlert(
                    session_id=position.forecast.session_id,
                    sku_id=sku,
                    warehouse_id=position.stock.warehouse_id,
                    warehouse_name=position.stock.warehouse_name,
                    demand_units=position.demand,
                    safety_stock_units=position.safety,
                    available_units=position.stock.available_units,
                    shortfall_units=shortfall,
                    transfers=tuple(transfers),
                    purchase_units=still_needed,
                    reason=_alert_reason(position, transfers, still_needed),
                )
            )
    return alerts


def _alert_reason(position: _Position, transfers: list[Transfer], purchase: int) -> str:
    situation = (
        f"{position.stock.warehouse_name} 预计需求 {position.demand} 件 + "
        f"安全库存 {position.safety} 件 > 可用 {position.stock.available_units} 件"
    )
    moves = "、".join(f"从 {t.from_warehouse_name} 调拨 {t.units} 件" for t in transfers)
    if moves and purchase:
        return f"{situation}：建议{moves}，另采购 {purchase} 件"
    if moves:
        return f"{situation}：建议{moves}"
    return f"{situation}：建议采购 {purchase} 件"
