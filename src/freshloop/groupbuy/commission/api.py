"""The commission API (GB-2), mounted under /api/v1/groupbuy by `groupbuy.api`.

Leaders (bearer token or H5 session; an active leadership, otherwise 403
`not_an_active_leader`) read their own orders, sales, money and statements and confirm
pickups; every read is scoped to the leader found for the caller. Operators (社群运营 or
admin) manage rules and settlement runs."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status

from freshloop.core import clock
from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.permissions import Role
from freshloop.groupbuy.commission import selectors
from freshloop.groupbuy.commission.errors import (
    CommissionInputInvalid,
    CommissionRuleNotFound,
    PickupAlreadyDone,
    PickupCodeUnknown,
    PickupOrderClosed,
    SettlementRunNotFound,
    SettlementRunOpen,
    SettlementSelfApproval,
    SettlementStateInvalid,
    StatementNotFound,
)
from freshloop.groupbuy.commission.exports import statement_csv, statement_pdf
from freshloop.groupbuy.commission.models import CommissionRule, SettlementRun, SettlementStatement
from freshloop.groupbuy.commission.schemas import (
    BalancesOut,
    CommissionEntryOut,
    CommissionRuleIn,
    CommissionRuleOut,
    DaySalesOut,
    LeaderCommissionOut,
    LeaderOrderOut,
    LeaderOrdersOut,
    PaidIn,
    PickupIn,
    PickupOut,
    RulesOut,
    RunDetailOut,
    RunIn,
    RunOut,
    RunsOut,
    StatementDetailOut,
    StatementLineOut,
    StatementOut,
    StatementsOut,
)
from freshloop.groupbuy.commission.services import (
    commission_rule_create,
    commission_rule_end,
    pickup_confirm,
    settlement_run_approve,
    settlement_run_cancel,
    settlement_run_create,
    statement_mark_paid,
)
from freshloop.groupbuy.errors import NotAnActiveLeader
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.selectors import leader_for_person
from freshloop.identity.auth import ConsumerAuth, request_person

router = Router(tags=["社区团购 佣金 groupbuy"])

OPERATOR_ROLES = (Role.COMMUNITY_MANAGER,)
Limit = Query(20, ge=1, le=100, title="每页条数")
Offset = Query(0, ge=0, le=100_000, title="跳过条数")
StatementNo = Path(..., min_length=1, max_length=64, title="结算单号")
RunNo = Path(..., min_length=1, max_length=64, title="结算批次号")
DayQuery = Query(None, title="日期（上海时间，默认今天）")
SinceQuery = Query(None, title="开始日期")
UntilQuery = Query(None, title="结束日期")
CSV_DOC = {
    "responses": {
        200: {
            "description": "UTF-8 CSV（带 BOM）",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}
PDF_DOC = {
    "responses": {
        200: {
            "description": "PDF 结算单",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


def _leader(request: HttpRequest) -> GroupLeader:
    leader = leader_for_person(person=request_person(request))
    if leader is None:
        raise NotAnActiveLeader()
    return leader


def _order(row: selectors.LeaderOrderRow) -> LeaderOrderOut:
    return LeaderOrderOut.model_validate(row, from_attributes=True)


def _statement(statement: SettlementStatement) -> StatementOut:
    return StatementOut(
        statement_no=statement.statement_no,
        run_no=statement.run.run_no,
        leader_no=statement.leader.leader_no,
        leader_display_name=statement.leader.display_name,
        period_start=statement.run.period_start,
        period_end=statement.run.period_end,
        opening_fen=statement.opening_fen,
        matured_fen=statement.matured_fen,
        reversed_fen=statement.reversed_fen,
        amount_fen=statement.amount_fen,
        status=statement.status,
        status_label=statement.get_status_display(),
        paid_at=statement.paid_at,
        payment_ref=statement.payment_ref,
    )


def _statement_detail(statement: SettlementStatement) -> StatementDetailOut:
    lines = selectors.statement_lines(statement=statement)
    return StatementDetailOut(
        **_statement(statement).model_dump(),
        lines=[StatementLineOut.model_validate(line, from_attributes=True) for line in lines],
    )


def _file(body: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- leaders --------------------------------------------------------------------------------


@router.get(
    "/leader/orders",
    response=LeaderOrdersOut,
    auth=ConsumerAuth(),
    summary="团长：我的订单（仅本人名下）",
)
@raises(NotAnActiveLeader)
def leader_orders_list(
    request: HttpRequest,
    pickup_status: str | None = Query(
        None, pattern="^(awaiting|picked_up|refunded)$", title="自提状态"
    ),
    limit: int = Limit,
    offset: int = Offset,
) -> LeaderOrdersOut:
    leader = _leader(request)
    total, rows = selectors.leader_orders(
        leader=leader, pickup_status=pickup_status, limit=limit, offset=offset
    )
    return LeaderOrdersOut(total=total, items=[_order(row) for row in rows])


@router.get(
    "/leader/orders/to-hand-out",
    response=list[LeaderOrderOut],
    auth=ConsumerAuth(),
    summary="团长：某天待自提的订单（默认今天，上海时间）",
)
@raises(NotAnActiveLeader)
def leader_orders_hand_out(
    request: HttpRequest, day: dt.date | None = DayQuery
) -> list[LeaderOrderOut]:
    leader = _leader(request)
    when = day or clock.to_shanghai(clock.now()).date()
    return [_order(row) for row in selectors.leader_orders_to_hand_out(leader=leader, day=when)]


@router.post(
    "/leader/orders/pickup",
    response=PickupOut,
    auth=ConsumerAuth(),
    summary="团长：核销提货码（顾客到自提点取货）",
)
@raises(NotAnActiveLeader, PickupCodeUnknown, PickupAlreadyDone, PickupOrderClosed)
def leader_orders_pickup(request: HttpRequest, body: PickupIn) -> PickupOut:
    done = pickup_confirm(leader=_leader(request), pickup_code=body.pickup_code)
    return PickupOut(
        order_no=done.order_no, pickup_status=done.pickup_status, picked_up_at=done.picked_up_at
    )


@router.get(
    "/leader/sales",
    response=list[DaySalesOut],
    auth=ConsumerAuth(),
    summary="团长：每日销售额、订单数、顾客数（默认最近 30 天，最长一年）",
)
@raises(NotAnActiveLeader)
def leader_sales(
    request: HttpRequest,
    since: dt.date | None = SinceQuery,
    until: dt.date | None = UntilQuery,
) -> list[DaySalesOut]:
    leader = _leader(request)
    last = until or clock.to_shanghai(clock.now()).date()
    first = since or last - dt.timedelta(days=29)
    rows = selectors.leader_sales_summary(leader=leader, since=first, until=last)
    return [DaySalesOut.model_validate(row, from_attributes=True) for row in rows]


@router.get(
    "/leader/commission",
    response=LeaderCommissionOut,
    auth=ConsumerAuth(),
    summary="团长：佣金余额与流水",
)
@raises(NotAnActiveLeader)
def leader_commission(
    request: HttpRequest, limit: int = Limit, offset: int = Offset
) -> LeaderCommissionOut:
    leader = _leader(request)
    balances = selectors.leader_commission_balances(leader=leader)
    total, entries = selectors.leader_commission_entries(leader=leader, limit=limit, offset=offset)
    return LeaderCommissionOut(
        balances=BalancesOut.model_validate(balances, from_attributes=True),
        total=total,
        entries=[CommissionEntryOut.model_validate(e, from_attributes=True) for e in entries],
    )


@router.get(
    "/leader/statements",
    response=StatementsOut,
    auth=ConsumerAuth(),
    summary="团长：我的结算单",
)
@raises(NotAnActiveLeader)
def leader_statements_list(
    request: HttpRequest, limit: int = Limit, offset: int = Offset
) -> StatementsOut:
    total, rows = selectors.leader_statements(leader=_leader(request), limit=limit, offset=offset)
    return StatementsOut(total=total, items=[_statement(row) for row in rows])


@router.get(
    "/leader/statements/{statement_no}",
    response=StatementDetailOut,
    auth=ConsumerAuth(),
    summary="团长：结算单明细（仅本人的结算单）",
)
@raises(NotAnActiveLeader, StatementNotFound)
def leader_statement_detail(
    request: HttpRequest, statement_no: str = StatementNo
) -> StatementDetailOut:
    statement = selectors.leader_statement(leader=_leader(request), statement_no=statement_no)
    return _statement_detail(statement)


@router.get(
    "/leader/statements/{statement_no}/pdf",
    auth=ConsumerAuth(),
    summary="团长：下载结算单 PDF",
    openapi_extra=PDF_DOC,
)
@raises(NotAnActiveLeader, StatementNotFound)
def leader_statement_pdf(request: HttpRequest, statement_no: str = StatementNo) -> HttpResponse:
    statement = selectors.leader_statement(leader=_leader(request), statement_no=statement_no)
    body = statement_pdf(statement=statement)
    return _file(body, "application/pdf", f"{statement.statement_no}.pdf")


# --- operators ------------------------------------------------------------------------------


def _rule(rule: CommissionRule) -> CommissionRuleOut:
    return CommissionRuleOut(
        id=rule.pk,
        depth=rule.depth,
        level_code=rule.level.code if rule.level else None,
        product_code=rule.product.code if rule.product else None,
        category_code=rule.category.code if rule.category else None,
        rate_bp=rule.rate_bp,
        cap_fen=rule.cap_fen,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
        note=rule.note,
        created_by=rule.created_by,
    )


def _run(run: SettlementRun) -> RunOut:
    return RunOut(
        run_no=run.run_no,
        period_start=run.period_start,
        period_end=run.period_end,
        status=run.status,
        status_label=run.get_status_display(),
        total_fen=run.total_fen,
        statement_count=run.statement_count,
        created_by=run.created_by,
        created_at=run.created_at,
        approved_by=run.approved_by,
        approved_at=run.approved_at,
    )


def _run_detail(run: SettlementRun) -> RunDetailOut:
    statements = selectors.run_statements(run=run)
    return RunDetailOut(**_run(run).model_dump(), statements=[_statement(s) for s in statements])


@router.get(
    "/commission/rules",
    response=RulesOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：佣金规则（in_force=true 只看当前生效的）",
)
@raises()
def rules_index(
    request: HttpRequest, in_force: bool = False, limit: int = Limit, offset: int = Offset
) -> RulesOut:
    total, rules = selectors.commission_rules_list(
        in_force_at=clock.now() if in_force else None, limit=limit, offset=offset
    )
    return RulesOut(total=total, items=[_rule(rule) for rule in rules])


@router.post(
    "/commission/rules",
    response={201: CommissionRuleOut},
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：新建佣金规则（按层级、等级、商品或类目，带有效期）",
)
@raises(CommissionInputInvalid)
def rules_create(request: HttpRequest, body: CommissionRuleIn) -> Status:
    rule = commission_rule_create(actor=request_actor(request), **body.model_dump())
    rule = CommissionRule.objects.select_related("level", "product", "category").get(pk=rule.pk)
    return Status(201, _rule(rule))


@router.post(
    "/commission/rules/{rule_id}/end",
    response=CommissionRuleOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：停用佣金规则（从现在起不再适用，已计提的佣金不变）",
)
@raises(CommissionRuleNotFound)
def rules_end(
    request: HttpRequest, rule_id: int = Path(..., ge=1, le=2**63 - 1)
) -> CommissionRuleOut:
    rule = commission_rule_end(actor=request_actor(request), rule_id=rule_id)
    return _rule(rule)


@router.get(
    "/commission/settlement-runs",
    response=RunsOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：佣金结算批次",
)
@raises()
def runs_index(request: HttpRequest, limit: int = Limit, offset: int = Offset) -> RunsOut:
    total, runs = selectors.settlement_runs_list(limit=limit, offset=offset)
    return RunsOut(total=total, items=[_run(run) for run in runs])


@router.post(
    "/commission/settlement-runs",
    response={201: RunDetailOut},
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：发起结算批次（截止日及以前转为可结算的佣金，每位团长一张结算单）",
)
@raises(CommissionInputInvalid, SettlementRunOpen)
def runs_create(request: HttpRequest, body: RunIn) -> Status:
    run = settlement_run_create(actor=request_actor(request), period_end=body.period_end)
    return Status(201, _run_detail(run))


@router.get(
    "/commission/settlement-runs/{run_no}",
    response=RunDetailOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：结算批次与其结算单",
)
@raises(SettlementRunNotFound)
def runs_detail(request: HttpRequest, run_no: str = RunNo) -> RunDetailOut:
    return _run_detail(selectors.settlement_run_get(run_no=run_no))


@router.post(
    "/commission/settlement-runs/{run_no}/approve",
    response=RunDetailOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：审核结算批次（须由创建人以外的运营人员审核）",
)
@raises(SettlementRunNotFound, SettlementStateInvalid, SettlementSelfApproval)
def runs_approve(request: HttpRequest, run_no: str = RunNo) -> RunDetailOut:
    return _run_detail(settlement_run_approve(actor=request_actor(request), run_no=run_no))


@router.post(
    "/commission/settlement-runs/{run_no}/cancel",
    response=RunDetailOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：作废待审核的结算批次",
)
@raises(SettlementRunNotFound, SettlementStateInvalid)
def runs_cancel(request: HttpRequest, run_no: str = RunNo) -> RunDetailOut:
    return _run_detail(settlement_run_cancel(actor=request_actor(request), run_no=run_no))


@router.post(
    "/commission/statements/{statement_no}/paid",
    response=StatementOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：结算单已打款（填写打款流水号）",
)
@raises(StatementNotFound, SettlementStateInvalid, CommissionInputInvalid)
def statements_paid(
    request: HttpRequest, body: PaidIn, statement_no: str = StatementNo
) -> StatementOut:
    statement_mark_paid(
        actor=request_actor(request), statement_no=statement_no, payment_ref=body.payment_ref
    )
    return _statement(selectors.statement_get(statement_no=statement_no))


@router.get(
    "/commission/statements/{statement_no}/csv",
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：下载结算单 CSV",
    openapi_extra=CSV_DOC,
)
@raises(StatementNotFound)
def statements_csv(request: HttpRequest, statement_no: str = StatementNo) -> HttpResponse:
    statement = selectors.statement_get(statement_no=statement_no)
    body = statement_csv(statement=statement).encode("utf-8")
    return _file(body, "text/csv; charset=utf-8", f"{statement.statement_no}.csv")


@router.get(
    "/commission/statements/{statement_no}/pdf",
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：下载结算单 PDF",
    openapi_extra=PDF_DOC,
)
@raises(StatementNotFound)
def statements_pdf(request: HttpRequest, statement_no: str = StatementNo) -> HttpResponse:
    statement = selectors.statement_get(statement_no=statement_no)
    return _file(
        statement_pdf(statement=statement), "application/pdf", f"{statement.statement_no}.pdf"
    )
