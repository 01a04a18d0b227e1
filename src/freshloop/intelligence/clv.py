"""Customer lifetime value (DH-7): BG/NBD for how often a customer buys, Gamma-Gamma for how
much each purchase is worth, both from PyMC-Marketing (docs/decisions/0012-pymc-marketing.md).

The models are fitted by MAP with flat priors. PyMC's MAP ignores the log-transform Jacobian,
so with flat priors it is the maximum-likelihood estimate the papers publish; on the CDNOW data
set it reproduces Fader, Hardie & Lee (2005) and Fader & Hardie (2013) (tests/intelligence/
test_clv.py). The library's default BG/NBD priors pull a and b away from them (0.71 / 2.09
instead of 0.79 / 2.43 on CDNOW), so they are replaced.

Importing PyMC takes seconds, so it happens inside the functions that need it: Django imports
this module at start-up.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from freshloop.core.clock import SHANGHAI

if TYPE_CHECKING:
    import xarray
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

# Below these the estimates swing with every new order and the CLV ranking is noise.
MIN_CUSTOMERS = 50
MIN_REPEAT_BUYERS = 20

# The summary's time unit, as PyMC-Marketing's `customer_lifetime_value` names it: it converts
# months to model periods only for these.
LIBRARY_TIME_UNITS: Mapping[int, str] = {1: "D", 7: "W"}
DEFAULT_TIME_UNIT_DAYS = 7
DAYS_PER_MONTH = 365.25 / 12
FEN_PER_YUAN = 100

TRANSACTION_COLUMNS = ("person_id", "occurred_at", "amount_fen")
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
FREQUENCY_PARAMETERS = ("r", "alpha", "a", "b")
SPEND_PARAMETERS = ("p", "q", "v")
PREDICTION_COLUMNS = ("expected_purchases", "probability_alive", "expected_spend_fen", "clv_fen")


class ClvTooLittleData(Exception):
    """Too few customers or repeat buyers to estimate the models honestly. The caller shows
    `message` (Chinese, for operators) instead of failing."""

    code: ClassVar[str] = "intelligence_clv_too_little_data"

    def __init__(self, message: str, *, customers: int, repeat_buyers: int) -> None:
        super().__init__(message)
        self.message = message
        self.customers = customers
        self.repeat_buyers = repeat_buyers

    @classmethod
    def for_counts(cls, *, customers: int, repeat_buyers: int) -> ClvTooLittleData:
        return cls(
            f"数据太少，暂时无法估算客户终身价值：至少需要 {MIN_CUSTOMERS} 位下过单的客户"
            f"（现有 {customers} 位）和 {MIN_REPEAT_BUYERS} 位复购客户（现有 {repeat_buyers} 位）",
            customers=customers,
            repeat_buyers=repeat_buyers,
        )

    @classmethod
    def for_degenerate_fit(cls, *, customers: int, repeat_buyers: int) -> ClvTooLittleData:
        return cls(
            "现有订单不足以稳定估计客户终身价值（复购金额或间隔过于单一），请积累更多订单后再试",
            customers=customers,
            repeat_buyers=repeat_buyers,
        )


@dataclass(frozen=True)
class ClvFit:
    """Point estimates of both models; plain floats, so a fit can be stored and re-scored
    without refitting (`clv_fit_to_dict`)."""

    # BG/NBD: purchase rate ~ Gamma(r, alpha) per period; dropout probability ~ Beta(a, b).
    r: float
    alpha: float
    a: float
    b: float
    # Gamma-Gamma: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v); v is in yuan.
    p: float
    q: float
    v: float
    n_customers: int
    n_repeat_buyers: int
    time_unit_days: int = DEFAULT_TIME_UNIT_DAYS

    def predict(
        self,
        summary: pd.DataFrame,
        *,
        horizon_days: int = 365,
        discount_rate_annual: float = 0.1,
    ) -> pd.DataFrame:
        return clv_predict(
            self, summary, horizon_days=horizon_days, discount_rate_annual=discount_rate_annual
        )

    def is_usable(self) -> bool:
        """Every parameter finite and positive, and q > 1: the population's mean spend
        p·v/(q−1) is infinite otherwise."""
        parameters = [getattr(self, name) for name in (*FREQUENCY_PARAMETERS, *SPEND_PARAMETERS)]
        return all(math.isfinite(value) and value > 0 for value in parameters) and self.q > 1


def rfm_summary(
    transactions: pd.DataFrame,
    *,
    cutoff: dt.datetime,
    time_unit_days: int = DEFAULT_TIME_UNIT_DAYS,
) -> pd.DataFrame:
    """Per person, from their orders strictly before `cutoff`, what the models read:

    - `frequency`: repeat purchase days (distinct purchase days minus the first);
    - `recency`: first to last purchase day, and `T`: first purchase day to the last day
      observed (the day before `cutoff` when it falls at midnight), both in periods of
      `time_unit_days` days (1 or 7; weeks by default, as in the papers);
    - `monetary_value`: mean spend of the repeat purchase days, in **yuan** (float; 0 for
      one-off buyers). Yuan, not fen: it keeps the Gamma-Gamma scale v in the range the
      optimiser starts from, and is what the published CDNOW figures (dollars) compare with.

    Days are Asia/Shanghai calendar days, the days customers and operators count in; orders on
    one day collapse into one purchase whose value is their sum (lifetimes' and
    PyMC-Marketing's definition, whose `rfm_summary` does the counting). Indexed by person_id,
    sorted; `attrs["time_unit_days"]` records the unit for `clv_fit`.
    """
    _library_time_unit(time_unit_days)
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be an aware datetime")
    missing = set(TRANSACTION_COLUMNS) - set(transactions.columns)
    if missing:
        raise ValueError(f"transactions lack columns {sorted(missing)}")
    if transactions.empty:
        return _empty_summary(time_unit_days)
    occurred_at = pd.to_datetime(transactions["occurred_at"])
    if not isinstance(occurred_at.dtype, pd.DatetimeTZDtype):
        raise ValueError("occurred_at must be aware datetimes in one time zone (UTC)")

    # The leakage guard: nothing at or after the cutoff gets past this line.
    cutoff_at = pd.Timestamp(cutoff)
    before_cutoff = (occurred_at < cutoff_at).to_numpy()
    orders = pd.DataFrame(
        {
            "person_id": transactions["person_id"].to_numpy()[before_cutoff],
            "day": occurred_at[before_cutoff].dt.tz_convert(SHANGHAI).dt.tz_localize(None),
            "amount_yuan": transactions["amount_fen"].to_numpy(dtype=np.float64)[before_cutoff]
            / FEN_PER_YUAN,
        }
    )
    if orders.empty:
        return _empty_summary(time_unit_days)

    last_observed_day = (
        (cutoff_at - pd.Timedelta(1, unit="ns")).tz_convert(SHANGHAI).tz_localize(None).normalize()
    )
    from pymc_marketing.clv.utils import rfm_summary as library_rfm_summary

    counted = library_rfm_summary(
        orders,
        customer_id_col="person_id",
        datetime_col="day",
        monetary_value_col="amount_yuan",
        observation_period_end=last_observed_day,
        time_unit="D",
        time_scaler=time_unit_days,
    )
    summary = (
        counted.set_index("customer_id")
        .rename_axis("person_id")
        .sort_index()
        .astype({"frequency": np.int64})
    )[list(SUMMARY_COLUMNS)]
    summary.attrs["time_unit_days"] = time_unit_days
    return summary


def clv_fit(summary: pd.DataFrame) -> ClvFit:
    """Fit BG/NBD on everyone in `summary` and Gamma-Gamma on its repeat buyers (frequency > 0
    and a positive mean spend), by MAP with flat priors (maximum likelihood).

    Raises ClvTooLittleData below MIN_CUSTOMERS customers or MIN_REPEAT_BUYERS repeat buyers,
    or when the data cannot pin the estimates down (see `ClvFit.is_usable`). A summary without
    `attrs["time_unit_days"]` (e.g. read from a CSV) is taken to be in weeks.
    """
    _check_summary(summary)
    time_unit_days = int(summary.attrs.get("time_unit_days", DEFAULT_TIME_UNIT_DAYS))
    _library_time_unit(time_unit_days)
    repeat_buyers = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    counts = {"customers": len(summary), "repeat_buyers": len(repeat_buyers)}
    if len(summary) < MIN_CUSTOMERS or len(repeat_buyers) < MIN_REPEAT_BUYERS:
        raise ClvTooLittleData.for_counts(**counts)

    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    frequency_model = BetaGeoModel(model_config=_flat_priors(FREQUENCY_PARAMETERS))
    frequency_model.fit(
        data=_model_frame(summary, ("frequency", "recency", "T")),
        method="map",
        progressbar=False,
    )
    spend_model = GammaGammaModel(model_config=_flat_priors(SPEND_PARAMETERS))
    spend_model.fit(
        data=_model_frame(repeat_buyers, ("frequency", "monetary_value")),
        method="map",
        progressbar=False,
    )
    frequency_point = _map_point(frequency_model, FREQUENCY_PARAMETERS)
    spend_point = _map_point(spend_model, SPEND_PARAMETERS)
    fit = ClvFit(
        **frequency_point,
        **spend_point,
        n_customers=len(summary),
        n_repeat_buyers=len(repeat_buyers),
        time_unit_days=time_unit_days,
    )
    if not fit.is_usable():
        raise ClvTooLittleData.for_degenerate_fit(**counts)
    return fit


def clv_predict(
    fit: ClvFit,
    summary: pd.DataFrame,
    *,
    horizon_days: int = 365,
    discount_rate_annual: float = 0.1,
) -> pd.DataFrame:
    """Per person of `summary` (same index): `expected_purchases` in the next `horizon_days`,
    `probability_alive` now, `expected_spend_fen` per future purchase and `clv_fen`, the
    discounted value of the purchases expected over the horizon (both integer fen, >= 0).

    The library computes everything from the fit's point estimates. Its CLV sums month by
    month, discounting each month at the monthly equivalent of `discount_rate_annual`, so the
    horizon is rounded to whole months (365 days -> 12); `expected_purchases` uses the exact
    number of days.
    """
    if horizon_days < 1:
        raise ValueError("horizon_days must be at least 1")
    if discount_rate_annual < 0:
        raise ValueError("discount_rate_annual must not be negative")
    _check_summary(summary)
    summary_unit = int(summary.attrs.get("time_unit_days", fit.time_unit_days))
    if summary_unit != fit.time_unit_days:
        raise ValueError(
            f"summary counts periods of {summary_unit} days, the fit {fit.time_unit_days}"
        )
    if summary.empty:
        return pd.DataFrame(
            {name: pd.Series(dtype=_prediction_dtype(name)) for name in PREDICTION_COLUMNS},
            index=summary.index,
        )

    data = _model_frame(summary, SUMMARY_COLUMNS)
    frequency_model, spend_model = _models_from_fit(fit, data)
    expected_purchases = frequency_model.expected_purchases(
        data=data, future_t=horizon_days / fit.time_unit_days
    )
    probability_alive = frequency_model.expected_probability_alive(data=data)
    expected_spend_yuan = spend_model.expected_customer_spend(data=data)
    months = max(1, round(horizon_days / DAYS_PER_MONTH))
    lifetime_value_yuan = spend_model.expected_customer_lifetime_value(
        transaction_model=frequency_model,
        data=data.copy(),  # the library writes a column into the frame it is given
        future_t=months,
        discount_rate=(1 + discount_rate_annual) ** (1 / 12) - 1,
        time_unit=_library_time_unit(fit.time_unit_days),
    )
    customer_ids = data["customer_id"].to_numpy()
    return pd.DataFrame(
        {
            "expected_purchases": _per_customer(expected_purchases, customer_ids),
            "probability_alive": _per_customer(probability_alive, customer_ids),
            "expected_spend_fen": _yuan_to_fen(_per_customer(expected_spend_yuan, customer_ids)),
            "clv_fen": _yuan_to_fen(_per_customer(lifetime_value_yuan, customer_ids)),
        },
        index=summary.index,
    )


def clv_fit_to_dict(fit: ClvFit) -> dict[str, float | int]:
    """Plain floats and ints (JSON-ready); `clv_fit_from_dict` reads it back exactly."""
    return asdict(fit)


def clv_fit_from_dict(stored: Mapping[str, Any]) -> ClvFit:
    missing = {"n_customers", "n_repeat_buyers", *FREQUENCY_PARAMETERS, *SPEND_PARAMETERS} - set(
        stored
    )
    if missing:
        raise ValueError(f"stored CLV fit lacks {sorted(missing)}")
    fit = ClvFit(
        **{name: float(stored[name]) for name in (*FREQUENCY_PARAMETERS, *SPEND_PARAMETERS)},
        n_customers=int(stored["n_customers"]),
        n_repeat_buyers=int(stored["n_repeat_buyers"]),
        time_unit_days=int(stored.get("time_unit_days", DEFAULT_TIME_UNIT_DAYS)),
    )
    _library_time_unit(fit.time_unit_days)
    if not fit.is_usable():
        raise ValueError("stored CLV fit has unusable parameters")
    return fit


def _library_time_unit(time_unit_days: int) -> str:
    try:
        return LIBRARY_TIME_UNITS[time_unit_days]
    except KeyError:
        raise ValueError(
            f"time_unit_days must be one of {sorted(LIBRARY_TIME_UNITS)}, not {time_unit_days}"
        ) from None


def _empty_summary(time_unit_days: int) -> pd.DataFrame:
    summary = pd.DataFrame(
        {
            "frequency": pd.Series(dtype=np.int64),
            "recency": pd.Series(dtype=np.float64),
            "T": pd.Series(dtype=np.float64),
            "monetary_value": pd.Series(dtype=np.float64),
        },
        index=pd.Index([], name="person_id"),
    )
    summary.attrs["time_unit_days"] = time_unit_days
    return summary


def _check_summary(summary: pd.DataFrame) -> None:
    missing = set(SUMMARY_COLUMNS) - set(summary.columns)
    if missing:
        raise ValueError(f"summary lacks columns {sorted(missing)}")
    if not summary.index.is_unique:
        raise ValueError("summary has one row per person; its index repeats")


def _model_frame(summary: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The frame the library wants: its own `customer_id` column (row positions, so any
    person_id type works) and the named summary columns as floats."""
    frame = summary[list(columns)].astype(np.float64).reset_index(drop=True)
    frame.insert(0, "customer_id", np.arange(len(frame)))
    return frame


def _flat_priors(names: Sequence[str]) -> dict[str, Any]:
    from pymc_extras.prior import Prior

    return {name: Prior("HalfFlat") for name in names}


def _map_point(model: BetaGeoModel | GammaGammaModel, names: Sequence[str]) -> dict[str, float]:
    point = model.fit_result
    return {name: float(point[name].to_numpy().item()) for name in names}


def _models_from_fit(fit: ClvFit, data: pd.DataFrame) -> tuple[BetaGeoModel, GammaGammaModel]:
    """Library models holding the fit's parameters as a one-draw posterior, the form a MAP fit
    leaves them in, so the library's predictive methods work on a stored fit unchanged."""
    import arviz
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    def one_draw(names: Sequence[str]) -> arviz.InferenceData:
        return arviz.from_dict(
            posterior={name: np.array([[float(getattr(fit, name))]]) for name in names}
        )

    frequency_model = BetaGeoModel(model_config=_flat_priors(FREQUENCY_PARAMETERS))
    # Its predictive methods read the model's coordinates, so it is built (not compiled).
    frequency_model.build_model(data[["customer_id", "frequency", "recency", "T"]])
    frequency_model.idata = one_draw(FREQUENCY_PARAMETERS)
    spend_model = GammaGammaModel(model_config=_flat_priors(SPEND_PARAMETERS))
    spend_model.idata = one_draw(SPEND_PARAMETERS)
    return frequency_model, spend_model


def _per_customer(values: xarray.DataArray, customer_ids: np.ndarray) -> np.ndarray:
    draws = [dim for dim in ("chain", "draw") if dim in values.dims]
    per_customer = values.mean(draws) if draws else values
    return np.asarray(per_customer.sel(customer_id=customer_ids).to_numpy(), dtype=np.float64)


def _yuan_to_fen(yuan: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(yuan, 0, None) * FEN_PER_YUAN).astype(np.int64)


def _prediction_dtype(column: str) -> type[np.generic]:
    return np.int64 if column.endswith("_fen") else np.float64
