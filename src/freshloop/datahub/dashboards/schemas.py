"""What the dashboards take and answer: the filter every chart reads (from query parameters),
and each chart's title, one-line definition and CSV download (headers and rows, Chinese first,
money in yuan, rates as percentages). The figures themselves come from `dashboards.selectors`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from freshloop.core import clock
from freshloop.core.money import fen_to_yuan
from freshloop.core.spreadsheet import spreadsheet_cell
from freshloop.datahub.dashboards.errors import (
    DashboardChannelUnknown,
    DashboardDateInvalid,
    DashboardFilterInvalid,
    DashboardPeriodReversed,
    DashboardPeriodTooLong,
)
from freshloop.datahub.eventstore.selectors import business_day
from freshloop.datahub.models import SourceChannel

MAX_PERIOD_DAYS = 3 * 365 + 1  # "at most three years", a leap day included
LIVE_SESSION_MAX_LENGTH = 64
RETENTION_MAX_OFFSET = 12  # months after the first order shown in the heatmap

# The channels an operator can filter by and spend money in (the system's own "server"
# channel is where facts without a touchpoint land, never a sales channel).
CHANNELS: dict[str, str] = {
    value: str(label) for value, label in SourceChannel.choices if value != SourceChannel.SERVER
}
CHANNEL_ORDER = list(CHANNELS)


# --- the filter --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DashboardFilter:
    """Which facts a chart looks at: Shanghai days `start`..`end` (both included), optionally
    one channel and one live session (a live session belongs to the live channel)."""

    start: dt.date
    end: dt.date
    channel: str | None = None
    live_session: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise DashboardPeriodReversed(
                detail={"start": self.start.isoformat(), "end": self.end.isoformat()}
            )
        if self.days > MAX_PERIOD_DAYS:
            raise DashboardPeriodTooLong(detail={"days": self.days, "max_days": MAX_PERIOD_DAYS})
        if self.channel is not None and self.channel not in CHANNELS:
            raise DashboardChannelUnknown(
                detail={"channel": self.channel, "allowed": CHANNEL_ORDER}
            )
        if self.live_session is not None:
            if not self.live_session or len(self.live_session) > LIVE_SESSION_MAX_LENGTH:
                raise DashboardFilterInvalid("直播场次编码不正确")
            if self.channel not in (None, SourceChannel.LIVE):
                raise DashboardFilterInvalid(
                    "直播场次只属于直播间渠道，请把渠道选为“直播间”或“全部”",
                    detail={"channel": self.channel, "live_session": self.live_session},
                )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "channel": self.channel,
            "live_session": self.live_session,
        }


def shanghai_today() -> dt.date:
    return business_day(clock.now())


def dashboard_filter_parse(
    params: Mapping[str, str], *, today: dt.date | None = None
) -> DashboardFilter:
    """Read a filter from query parameters `start`, `end` (YYYY-MM-DD), `channel`,
    `live_session`. Missing dates mean the last 30 days up to today (Shanghai)."""
    today = today or shanghai_today()
    end = _date_param(params, "end") or today
    start = _date_param(params, "start") or end - dt.timedelta(days=29)
    channel = (params.get("channel") or "").strip() or None
    live_session = (params.get("live_session") or "").strip() or None
    return DashboardFilter(start=start, end=end, channel=channel, live_session=live_session)


def _date_param(params: Mapping[str, str], name: str) -> dt.date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise DashboardDateInvalid(detail={"field": name, "value": raw[:32]}) from None


# --- the charts --------------------------------------------------------------------------------

CsvRows = Callable[[dict[str, Any]], Iterable[Sequence[Any]]]


@dataclasses.dataclass(frozen=True)
class Chart:
    name: str
    title: str
    headers: tuple[str, ...]
    rows: CsvRows  # the chart's data (what its selector returns) as CSV rows
    hint: str = ""  # one line under the chart's title: how its figure is defined


# Every chart, in the order the dashboard lists them (`dashboards.selectors` computes each).
CHARTS: dict[str, Chart] = {}


def _chart(
    name: str, title: str, headers: tuple[str, ...], hint: str
) -> Callable[[CsvRows], CsvRows]:
    """Register the chart whose CSV rows the decorated function writes."""

    def register(rows: CsvRows) -> CsvRows:
        CHARTS[name] = Chart(name=name, title=title, headers=headers, rows=rows, hint=hint)
        return rows

    return register


def _yuan(fen: int | None) -> str:
    return "" if fen is None else str(fen_to_yuan(fen))


def _percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.2f}%"


def _money_cells(row: dict[str, Any]) -> tuple[str, str, str]:
    """Paid, refunded and GMV (paid − refunded) in yuan: the trend's and the channel mix's."""
    return _yuan(row["paid_fen"]), _yuan(row["refunded_fen"]), _yuan(row["gmv_fen"])


@_chart(
    "funnel",
    "转化漏斗",
    ("环节", "人数", "环节转化率"),
    hint="浏览、加购、支付的去重人数(按合并后的 OneID)；选直播场次时为该场的进房、加购、支付。",
)
def _funnel_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for step in data["steps"]:
        yield (step["label"], step["people"], _percent(step["rate_from_previous"]))


@_chart(
    "cac",
    "新客获客成本",
    ("渠道", "活动", "花费(元)", "新客数", "获客成本(元)"),
    hint="获客成本 = 期间内该渠道/活动的花费(按天分摊) ÷ 首单落在期间内的新客数。",
)
def _cac_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for row in data["rows"]:
        yield (
            row["channel_label"],
            spreadsheet_cell(row["campaign"]) or "（渠道合计）",
            _yuan(row["spend_fen"]),
            row["new_customers"],
            _yuan(row["cac_fen"]),
        )


@_chart(
    "repurchase",
    "新客复购率",
    ("复购窗口", "新客数", "已满窗口新客数", "复购人数", "复购率", "未满窗口新客数"),
    hint="期间内新客在首单后 30/60/90 天内再次支付的比例；窗口未满的新客不计入分母。",
)
def _repurchase_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for window in data["windows"]:
        yield (
            f"{window['days']} 天",
            data["cohort"],
            window["eligible"],
            window["repurchased"],
            _percent(window["rate"]),
            window["immature"],
        )


@_chart(
    "gmv",
    "GMV 与订单趋势",
    ("开始日期", "结束日期", "支付金额(元)", "退款金额(元)", "GMV(元)", "支付订单数"),
    hint="GMV = 支付金额 − 退款金额(退款计入退款当天)；90 天内按天，一年内按周，更长按月。",
)
def _gmv_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for point in data["points"]:
        yield (point["start"], point["end"], *_money_cells(point), point["orders"])


@_chart(
    "retention",
    "月度留存",
    ("首单月份", "新客数", *(f"第 {k} 个月" for k in range(1, RETENTION_MAX_OFFSET + 1))),
    hint="按首单月份分组：之后第 k 个自然月仍有支付的人数占比(颜色越深留存越高)。",
)
def _retention_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for cohort in data["cohorts"]:
        cells = [_percent(cell["rate"]) if cell else "" for cell in cohort["cells"]]
        cells += [""] * (RETENTION_MAX_OFFSET - len(cells))
        yield (cohort["month"], cohort["size"], *cells)


@_chart(
    "channels",
    "渠道构成",
    ("渠道", "支付金额(元)", "退款金额(元)", "GMV(元)", "支付订单数", "GMV 占比"),
    hint="各渠道的 GMV 与支付订单数及 GMV 占比。",
)
def _channel_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for row in data["rows"]:
        yield (row["channel_label"], *_money_cells(row), row["orders"], _percent(row["gmv_share"]))


@_chart(
    "products",
    "热销商品 Top 10",
    ("排名", "商品", "类目", "销售额(元)", "销量(件)", "订单数"),
    hint="按期间内支付订单的商品行金额(优惠后)排名。",
)
def _product_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for row in data["rows"]:
        yield (
            row["rank"],
            spreadsheet_cell(row["product_name"]),
            spreadsheet_cell(row["category"]),
            _yuan(row["gmv_fen"]),
            row["quantity"],
            row["orders"],
        )


@_chart(
    "live-sessions",
    "直播场次",
    (
        "场次编码",
        "直播标题",
        "观看人数",
        "平均观看时长(秒)",
        "评论数",
        "商品点击",
        "加购次数",
        "支付订单",
        "GMV(元)",
        "购买人数",
        "转化率",
    ),
    hint="每场的观看人数、平均观看时长、互动、加购、支付订单、GMV 与转化率(购买人数 ÷ 观看人数)。",
)
def _live_rows(data: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for row in data["rows"]:
        yield (
            spreadsheet_cell(row["live_session"]),
            spreadsheet_cell(row["title"]),
            row["viewers"],
            row["average_dwell_seconds"],
            row["comments"],
            row["product_clicks"],
            row["add_to_cart"],
            row["orders"],
            _yuan(row["gmv_fen"]),
            row["buyers"],
            _percent(row["conversion"]),
        )
