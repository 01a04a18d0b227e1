"""The data side of the lifetime-value model: paid orders from the event store, and the
held-out check of a BG/NBD fit (the model itself is in `clv`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from freshloop.datahub.eventstore.selectors import to_naive_utc
from freshloop.intelligence import clv
from freshloop.intelligence.errors import TooLittleData

# One paid order counts once even when the browser and the server both reported it.
PAID_ORDERS_SQL = """
SELECT pid AS person_id, occurred_at, COALESCE(amount_fen, 0) AS amount_fen
FROM events_resolved
WHERE name = 'order_paid' AND pid IS NOT NULL AND occurred_at < $cutoff
QUALIFY row_number() OVER (
    PARTITION BY COALESCE(order_no, event_id)
    ORDER BY (source = 'server') DESC, occurred_at, event_id) = 1
ORDER BY person_id, occurred_at
"""


def paid_orders_before(
    connection: duckdb.DuckDBPyConnection, *, cutoff: dt.datetime
) -> pd.DataFrame:
    """Every paid order strictly before `cutoff`: person_id, occurred_at (aware UTC), amount_fen."""
    frame = connection.execute(PAID_ORDERS_SQL, {"cutoff": to_naive_utc(cutoff)}).df()
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).dt.tz_localize("UTC")
    return frame


def clv_fit_checked(summary: pd.DataFrame) -> clv.ClvFit:
    """`clv.clv_fit`, with too little data reported as the module's TooLittleData."""
    try:
        return clv.clv_fit(summary)
    except clv.ClvTooLittleData as error:
        raise TooLittleData(str(error), detail={"model": "clv"}) from error


def clv_evaluate(
    history: pd.DataFrame, *, cutoff: dt.datetime, until: dt.datetime
) -> dict[str, Any]:
    """Fit on orders before `cutoff`, predict each customer's purchases in [cutoff, until),
    compare with what they did: totals, mean absolute error per customer, rank correlation."""
    before = history[history["occurred_at"] < pd.Timestamp(cutoff)]
    summary = clv.rfm_summary(before, cutoff=cutoff)
    fit = clv_fit_checked(summary)
    days = max(1, (until - cutoff).days)
    predicted = clv.clv_predict(fit, summary, horizon_days=days)["expected_purchases"]
    window = history[
        (history["occurred_at"] >= pd.Timestamp(cutoff))
        & (history["occurred_at"] < pd.Timestamp(until))
    ]
    actual = window.groupby("person_id").size().reindex(predicted.index).fillna(0)
    errors = np.abs(predicted.to_numpy() - actual.to_numpy())
    correlation = (
        float(pd.Series(predicted.to_numpy()).corr(pd.Series(actual.to_numpy()), method="spearman"))
        if actual.nunique() > 1
        else None
    )
    return {
        "people": len(predicted),
        "window_days": days,
        "predicted_orders": round(float(predicted.sum()), 1),
        "actual_orders": int(actual.sum()),
        "mae_orders": round(float(errors.mean()), 4) if len(errors) else None,
        "spearman": round(correlation, 4) if correlation is not None else None,
        **{
            name: round(value, 4)
            for name, value in clv.clv_fit_to_dict(fit).items()
            if isinstance(value, float)
        },
    }
