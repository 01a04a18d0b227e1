"""Typed errors of the dashboards and of the acquisition spend they divide by."""

from __future__ import annotations

from freshloop.core.errors import InvalidInput, NotFound


class DashboardFilterInvalid(InvalidInput):
    code = "dashboard_filter_invalid"
    message = "筛选条件不正确"


class DashboardDateInvalid(DashboardFilterInvalid):
    code = "dashboard_date_invalid"
    message = "日期格式不正确，应为 YYYY-MM-DD"


class DashboardPeriodReversed(DashboardFilterInvalid):
    code = "dashboard_period_reversed"
    message = "结束日期不能早于开始日期"


class DashboardPeriodTooLong(DashboardFilterInvalid):
    code = "dashboard_period_too_long"
    message = "统计周期不能超过 3 年"


class DashboardChannelUnknown(DashboardFilterInvalid):
    code = "dashboard_channel_unknown"
    message = "未知的渠道"


class DashboardChartUnknown(NotFound):
    code = "dashboard_chart_unknown"
    message = "没有这个图表"


class AcquisitionSpendInvalid(InvalidInput):
    code = "acquisition_spend_invalid"
    message = "获客花费填写不正确"
