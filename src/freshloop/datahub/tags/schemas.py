"""What a person's computed tags look like: the `person_tags` columns a segment may test and
the profile shows (with their labels and types), and the values the labelled columns take."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Literal

FieldType = Literal["string", "integer", "number", "list"]


@dataclasses.dataclass(frozen=True)
class TagField:
    label: str
    type: FieldType


# person_tags columns a segment may test. The key is also the column name: only keys of this
# dict are ever put into SQL.
TAG_FIELDS: dict[str, TagField] = {
    "lifecycle": TagField("生命周期", "string"),
    "rfm_segment": TagField("RFM 分群", "string"),
    "rfm_score": TagField("RFM 得分", "string"),
    "r_score": TagField("R 近度分", "integer"),
    "f_score": TagField("F 频次分", "integer"),
    "m_score": TagField("M 金额分", "integer"),
    "recency_days": TagField("距上次购买(天)", "integer"),
    "frequency": TagField("购买次数", "integer"),
    "monetary_fen": TagField("累计消费(分)", "integer"),
    "top_categories": TagField("偏好品类", "list"),
    "preferred_channel": TagField("偏好渠道", "string"),
    "province": TagField("省份", "string"),
    "city": TagField("城市", "string"),
    "price_sensitivity": TagField("价格敏感度", "string"),
    "coupon_share": TagField("用券订单占比(0-1)", "number"),
    "live_engagement": TagField("直播活跃度", "string"),
    "live_sessions_30d": TagField("近30天观看场次", "integer"),
}


class RfmSegment(StrEnum):
    IMPORTANT_VALUE = "重要价值客户"
    IMPORTANT_DEVELOP = "重要发展客户"
    IMPORTANT_RETAIN = "重要保持客户"
    IMPORTANT_WIN_BACK = "重要挽留客户"
    GENERAL_VALUE = "一般价值客户"
    GENERAL_DEVELOP = "一般发展客户"
    GENERAL_RETAIN = "一般保持客户"
    GENERAL_WIN_BACK = "一般挽留客户"


class LifecycleStage(StrEnum):
    NEW = "新客"
    ACTIVE = "活跃"
    WON_BACK = "回流"
    AT_RISK = "流失预警"
    LAPSED = "已流失"
    PROSPECT = "潜在"


class Level(StrEnum):
    HIGH = "高"
    MEDIUM = "中"
    LOW = "低"
    NONE = "无"


UNKNOWN_LABEL = "未知"

# Columns `tag_distribution` may count, with their labels in display order (None: by count).
DISTRIBUTION_LABELS: dict[str, list[str] | None] = {
    "rfm_segment": [segment.value for segment in RfmSegment],
    "lifecycle": [stage.value for stage in LifecycleStage],
    "price_sensitivity": [Level.HIGH, Level.MEDIUM, Level.LOW],
    "live_engagement": [Level.HIGH, Level.MEDIUM, Level.LOW, Level.NONE],
    "r_score": ["5", "4", "3", "2", "1"],
    "f_score": ["5", "4", "3", "2", "1"],
    "m_score": ["5", "4", "3", "2", "1"],
    "rfm_score": None,
    "preferred_channel": None,
    "province": None,
    "top_categories": None,
}


# The intelligence module's scores (event store table `person_predictions`), testable in
# segments beside the computed tags: "流失风险 ≥ 0.7 且 终身价值百分位 ≥ 80".
PREDICTION_FIELDS: dict[str, TagField] = {
    "churn_risk": TagField("流失风险(0-1)", "number"),
    "purchase_propensity": TagField("30天购买概率(0-1)", "number"),
    "clv_fen": TagField("预计终身价值(分)", "integer"),
    "clv_percentile": TagField("终身价值百分位(0-100)", "number"),
    "best_contact_hour": TagField("最佳触达时段(点)", "integer"),
}
# Everything a segment's `tag` condition may test, and the event-store table each lives in.
SEGMENT_FIELDS: dict[str, TagField] = {**TAG_FIELDS, **PREDICTION_FIELDS}
SEGMENT_FIELD_TABLES: dict[str, str] = {
    **dict.fromkeys(TAG_FIELDS, "person_tags"),
    **dict.fromkeys(PREDICTION_FIELDS, "person_predictions"),
}
