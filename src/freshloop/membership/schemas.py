from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import ConfigDict, Field


class LevelOut(Schema):
    code: str
    name: str
    discount_percent: int = Field(..., description="会员折扣，5 表示 95 折")
    free_shipping: bool
    points_multiplier_bp: int = Field(..., description="积分倍率，10000 = 1 倍")


class NextLevelOut(Schema):
    code: str
    name: str
    min_lifetime_spend_fen: int
    min_points_earned: int
    spend_needed_fen: int = Field(..., description="还需累计消费（分），0 表示该途径已达到或未开放")
    points_needed: int = Field(..., description="还需获得积分，0 表示该途径已达到或未开放")


class MembershipMeOut(Schema):
    one_id: str
    level: LevelOut
    points_balance: int
    points_value_fen: int = Field(..., description="积分可抵扣金额（分），100 积分 = 1 元")
    lifetime_spend_fen: int
    points_earned_total: int
    joined_at: dt.datetime | None
    next_level: NextLevelOut | None = Field(None, description="已是最高等级时为空")


class PointsQuery(Schema):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=1, le=100, title="每页条数")
    offset: int = Field(0, ge=0, le=1_000_000, title="起始位置")


class PointsEntryOut(Schema):
    id: int
    kind: str
    kind_label: str
    delta: int
    balance_after: int
    order_ref: str
    reason: str
    created_at: dt.datetime


class PointsPageOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[PointsEntryOut]
