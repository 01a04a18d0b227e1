"""The journey (SOP) API at /api/v1/scrm: the console's journey editor talks to it.

Operators only: a console session (cookie + CSRF token on writes) of a community manager, a
marketer or an admin. Thin: parse, look up, call `scrm.services` / `scrm.selectors`. Steps
are checked by `steps_check`, whose 422 `journey_invalid` lists every wrong field as
`{"field": "steps.2.minutes", "message": "..."}` so the editor can point at the card.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.schemas import MAX_ID
from freshloop.datahub.segments.selectors import segment_list
from freshloop.identity.errors import PersonNotFound
from freshloop.identity.selectors import person_get
from freshloop.messaging.errors import MarketingChannelUnknown, MarketingPersonUnknown
from freshloop.scrm import selectors, services
from freshloop.scrm.errors import (
    JourneyInvalid,
    JourneyNotDeletable,
    JourneyNotFound,
    JourneyNotRunnable,
)
from freshloop.scrm.models import (
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyTrigger,
    StepOutcome,
)
from freshloop.scrm.roles import JOURNEY_ROLES
from freshloop.scrm.schemas import (
    CouponTemplateListOut,
    CouponTemplateOut,
    JourneyIn,
    JourneyListOut,
    JourneyOut,
    JourneyPeopleOut,
    JourneyPersonOut,
    JourneyStatsOut,
    JourneySummaryOut,
    PeopleQuery,
    RenameIn,
    SegmentChoiceListOut,
    SegmentChoiceOut,
    StatusIn,
    StepRunOut,
    StepsIn,
    StepStatsOut,
    TestRunIn,
    TestRunOut,
)
from freshloop.scrm.triggers import trigger_config_text

router = Router(tags=["客户旅程 SOP scrm"], auth=OperatorAuth(*JOURNEY_ROLES))

JourneyId = Path(..., ge=1, le=MAX_ID, description="旅程编号")


def _summary(journey: Journey, counts: selectors.JourneyCounts) -> JourneySummaryOut:
    version = journey.current_version
    return JourneySummaryOut(
        id=journey.pk,
        name=journey.name,
        trigger=journey.trigger,
        trigger_label=JourneyTrigger(journey.trigger).label,
        trigger_config=journey.trigger_config or {},
        trigger_text=trigger_config_text(journey),
        status=journey.status,
        status_label=JourneyStatus(journey.status).label,
        version=version.number if version else None,
        step_count=len(version.steps) if version else 0,
        entered=counts.entered,
        active=counts.active,
        converted=counts.converted,
        converted_fen=counts.converted_fen,
        updated_at=journey.updated_at,
    )


def journey_out(journey: Journey) -> JourneyOut:
    """A journey as the API and the editor page show it: current steps, totals, per step."""
    stats = selectors.journey_stats(journey=journey)
    counts = selectors.JourneyCounts(
        entered=stats.entered,
        active=stats.active,
        converted=stats.converted,
        converted_fen=stats.converted_fen,
    )
    version = journey.current_version
    return JourneyOut(
        **_summary(journey, counts).model_dump(),
        steps=version.steps if version else [],
        published_by=version.published_by if version else "",
        published_at=version.published_at if version else None,
        stats=JourneyStatsOut(
            entered=stats.entered,
            active=stats.active,
            completed=stats.completed,
            exited=stats.exited,
            converted=stats.converted,
            converted_fen=stats.converted_fen,
            steps=[
                StepStatsOut(
                    index=step.index,
                    type=step.type,
                    entered=step.entered,
                    done=step.done,
                    skipped=step.skipped,
                )
                for step in stats.steps
            ],
        ),
    )


@router.get("/journeys", response=JourneyListOut, summary="客户旅程列表（新建的在前）")
def journey_list(request: HttpRequest) -> JourneyListOut:
    counts = selectors.journey_counts()
    return JourneyListOut(
        items=[
            _summary(journey, counts.get(journey.pk, selectors.NO_COUNTS))
            for journey in selectors.journey_list()
        ]
    )


@router.post("/journeys", response={201: JourneyOut}, summary="新建旅程（发布第 1 版，草稿状态）")
@raises(JourneyInvalid)
def journey_create(request: HttpRequest, body: JourneyIn) -> Status[JourneyOut]:
    journey = services.journey_create(
        name=body.name,
        trigger=body.trigger,
        trigger_config=body.trigger_config,
        steps=body.steps,
        actor=request_actor(request),
    )
    return Status(201, journey_out(journey))


@router.get(
    "/journeys/{journey_id}", response=JourneyOut, summary="旅程详情：当前版本的步骤与每步数据"
)
@raises(JourneyNotFound)
def journey_detail(request: HttpRequest, journey_id: int = JourneyId) -> JourneyOut:
    return journey_out(selectors.journey_get(journey_id=journey_id))


@router.post(
    "/journeys/{journey_id}/versions",
    response={201: JourneyOut},
    summary="发布新版本的步骤（已在旅程中的客户走完自己进入时的版本）",
)
@raises(JourneyInvalid, JourneyNotFound)
def journey_publish(
    request: HttpRequest, body: StepsIn, journey_id: int = JourneyId
) -> Status[JourneyOut]:
    journey = selectors.journey_get(journey_id=journey_id)
    services.journey_version_publish(
        journey=journey, steps=body.steps, actor=request_actor(request)
    )
    return Status(201, journey_out(selectors.journey_get(journey_id=journey_id)))


@router.post("/journeys/{journey_id}/status", response=JourneyOut, summary="启动或暂停旅程")
@raises(JourneyInvalid, JourneyNotFound, JourneyNotRunnable)
def journey_status(request: HttpRequest, body: StatusIn, journey_id: int = JourneyId) -> JourneyOut:
    journey = selectors.journey_get(journey_id=journey_id)
    services.journey_status_set(journey=journey, status=body.status, actor=request_actor(request))
    return journey_out(selectors.journey_get(journey_id=journey_id))


@router.post(
    "/journeys/{journey_id}/test-run",
    response=TestRunOut,
    summary="试运行：让一位客户立即进入当前版本并执行到期的步骤",
    description=(
        "以触发标识 test:<时间> 让这位客户进入旅程（草稿或暂停的旅程也可以），立即执行到第一个"
        "等待为止的步骤。步骤是真实执行的（会发券、发消息、建任务），每步只执行一次；等待照常"
        "计时，之后的步骤在等待结束且旅程运行中时由定时任务执行。试运行的客户计入旅程数据。"
    ),
)
# The steps run for real, so what they can refuse is listed too (a step the engine cannot
# take is recorded as skipped; these would be a bug or a customer erased mid-run).
@raises(
    InvalidInput,
    JourneyInvalid,
    JourneyNotFound,
    JourneyNotRunnable,
    MarketingChannelUnknown,
    MarketingPersonUnknown,
    NotFound,
    PersonNotFound,
)
def journey_test_run(
    request: HttpRequest, body: TestRunIn, journey_id: int = JourneyId
) -> TestRunOut:
    journey = selectors.journey_get(journey_id=journey_id)
    person = person_get(one_id=body.one_id)
    result = services.journey_test_run(journey=journey, person=person, actor=request_actor(request))
    enrollment = result.enrollment
    return TestRunOut(
        enrollment_id=enrollment.pk,
        status=enrollment.status,
        status_label=EnrollmentStatus(enrollment.status).label,
        next_step=enrollment.step_index + 1,
        next_run_at=enrollment.next_run_at,
        runs=[
            StepRunOut(
                index=run.step_index + 1,
                type=run.step_type,
                outcome=run.outcome,
                outcome_label=StepOutcome(run.outcome).label,
                detail=run.detail,
            )
            for run in result.runs
        ],
    )


@router.get(
    "/coupon-templates",
    response=CouponTemplateListOut,
    summary="发券步骤可选的优惠券模板（启用中、非直播专享）",
)
def coupon_templates(request: HttpRequest) -> CouponTemplateListOut:
    return CouponTemplateListOut(
        items=[
            CouponTemplateOut(id=template.pk, name=template.name)
            for template in selectors.coupon_templates_for_steps()
        ]
    )


# --- rename, delete, who is inside, the segments a trigger can name ------------------------


@router.patch("/journeys/{journey_id}", response=JourneyOut, summary="重命名旅程")
@raises(JourneyInvalid, JourneyNotFound)
def journey_rename(request: HttpRequest, body: RenameIn, journey_id: int = JourneyId) -> JourneyOut:
    journey = selectors.journey_get(journey_id=journey_id)
    services.journey_rename(journey=journey, name=body.name, actor=request_actor(request))
    return journey_out(selectors.journey_get(journey_id=journey_id))


@router.delete(
    "/journeys/{journey_id}",
    response={204: None},
    summary="删除旅程（仅草稿或已暂停、且没有客户仍在旅程中）",
    description=(
        "删除旅程及其版本、已结束的客户记录与每步数据（写入审计日志，含进入人数）；已发出的券、"
        "任务、标签和消息保留。运行中的旅程或仍有客户在旅程中时返回 409 journey_not_deletable。"
    ),
)
@raises(JourneyNotFound, JourneyNotDeletable)
def journey_delete(request: HttpRequest, journey_id: int = JourneyId) -> Status[None]:
    journey = selectors.journey_get(journey_id=journey_id)
    services.journey_delete(journey=journey, actor=request_actor(request))
    return Status(204, None)


@router.get(
    "/journeys/{journey_id}/people",
    response=JourneyPeopleOut,
    summary="旅程中的客户（分页，最近进入的在前）",
)
@raises(JourneyNotFound)
def journey_people(
    request: HttpRequest, query: Query[PeopleQuery], journey_id: int = JourneyId
) -> JourneyPeopleOut:
    journey = selectors.journey_get(journey_id=journey_id)
    page = selectors.journey_people(
        journey=journey, page=query.page, page_size=query.page_size, status=query.status
    )
    return JourneyPeopleOut(
        items=[
            JourneyPersonOut(
                enrollment_id=row.enrollment.pk,
                one_id=row.one_id,
                display_name=row.display_name,
                phone_masked=row.phone_masked,
                status=row.enrollment.status,
                status_label=EnrollmentStatus(row.enrollment.status).label,
                step=row.step_text,
                next_run_at=(
                    row.enrollment.next_run_at
                    if row.enrollment.status == EnrollmentStatus.ACTIVE
                    else None
                ),
                version=row.enrollment.version.number,
                entered_at=row.enrollment.entered_at,
                finished_at=row.enrollment.finished_at,
                converted_at=row.enrollment.converted_at,
                converted_order_no=row.enrollment.converted_order_no,
                converted_fen=row.enrollment.converted_fen,
                test=row.enrollment.trigger_key.startswith("test:"),
            )
            for row in page.rows
        ],
        total=page.total,
        page=page.page,
        page_size=page.page_size,
    )


@router.get(
    "/trigger-segments",
    response=SegmentChoiceListOut,
    summary="“进入人群”触发可选的人群（数据中台保存的人群）",
)
def trigger_segments(request: HttpRequest) -> SegmentChoiceListOut:
    return SegmentChoiceListOut(
        items=[
            SegmentChoiceOut(id=segment.pk, name=segment.name, member_count=segment.member_count)
            for segment in segment_list()
        ]
    )


# Mass messages and moments, contacts and transfers: their own files, the same /api/v1/scrm.
from freshloop.scrm import broadcast_api, contact_api  # noqa: E402

router.add_router("", broadcast_api.router)
router.add_router("", contact_api.router)
