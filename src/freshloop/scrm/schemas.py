"""What the journey API (/api/v1/scrm) takes and answers.

Steps stay free-form JSON objects here (`list[dict]`): their one checker is
`journeys.steps_check`, which names every wrong field as `steps.N.field` with a Chinese
message — a second, looser copy of those rules in pydantic would only drift from it."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from freshloop.core.schemas import InputSchema
from freshloop.scrm.journeys import MAX_STEPS

STEPS_HELP = (
    "步骤列表，按顺序执行：wait {minutes}、condition {check: unpaid_since_entry|paid_since_entry}、"
    "message {text, product_cards}、coupon {template_id}、task {title, due_minutes, assignee}、"
    "tag {tag}；每个步骤带 type"
)


class JourneyIn(InputSchema):
    name: str = Field(..., title="旅程名称", max_length=200)
    trigger: str = Field(..., title="触发条件", max_length=32, description="见 JourneyTrigger")
    steps: list[dict[str, Any]] = Field(
        ..., title="步骤", max_length=MAX_STEPS * 5, description=STEPS_HELP
    )


class StepsIn(InputSchema):
    steps: list[dict[str, Any]] = Field(
        ..., title="步骤", max_length=MAX_STEPS * 5, description=STEPS_HELP
    )


class StatusIn(InputSchema):
    status: Literal["active", "paused"] = Field(
        ..., title="状态", description="active 启动 / paused 暂停"
    )


class TestRunIn(InputSchema):
    one_id: str = Field(..., title="客户 OneID", min_length=1, max_length=40)


class JourneySummaryOut(Schema):
    id: int
    name: str
    trigger: str
    trigger_label: str
    status: str
    status_label: str
    version: int | None
    step_count: int
    entered: int
    active: int
    converted: int
    converted_fen: int
    updated_at: dt.datetime


class JourneyListOut(Schema):
    items: list[JourneySummaryOut]


class StepStatsOut(Schema):
    index: int = Field(..., description="步骤序号，从 1 开始")
    type: str
    entered: int = Field(..., description="进入这一步的人数")
    done: int = Field(..., description="执行（动作完成 / 条件满足）")
    skipped: int = Field(..., description="跳过（未执行 / 条件不满足）")


class JourneyStatsOut(Schema):
    entered: int
    active: int
    completed: int
    exited: int
    converted: int
    converted_fen: int
    steps: list[StepStatsOut]


class JourneyOut(JourneySummaryOut):
    steps: list[dict[str, Any]]
    published_by: str
    published_at: dt.datetime | None
    stats: JourneyStatsOut


class StepRunOut(Schema):
    index: int = Field(..., description="步骤序号，从 1 开始")
    type: str
    outcome: str
    outcome_label: str
    detail: str


class TestRunOut(Schema):
    enrollment_id: int
    status: str
    status_label: str
    next_step: int = Field(..., description="下一个要执行的步骤序号（从 1 开始）")
    next_run_at: dt.datetime
    runs: list[StepRunOut]


class CouponTemplateOut(Schema):
    id: int
    name: str


class CouponTemplateListOut(Schema):
    items: list[CouponTemplateOut]
