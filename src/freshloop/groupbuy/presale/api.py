"""The API of presale (GB-4) under /api/v1/groupbuy: thin — parse, find the caller, call a
service or selector, answer a schema.

Anyone may look at a presale (a shared card or a live room's product card is opened by people
not signed in yet); deposits, balances and "my presales" need a consumer; operators set
presales up, edit them before they open, list and cancel them."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Header, Path, Query, Router, Status

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.errors import Conflict, InvalidInput
from freshloop.core.permissions import Role
from freshloop.groupbuy.presale.errors import (
    PresaleBalanceClosed,
    PresaleDepositClosed,
    PresaleDepositUnpaid,
    PresaleInvalid,
    PresaleLimitExceeded,
    PresaleNotFound,
    PresalePurchaseClosed,
    PresalePurchaseNotFound,
    PresaleQuantityInvalid,
    PresaleSoldOut,
    PresaleStateInvalid,
)
from freshloop.groupbuy.presale.models import Presale, PresalePurchase
from freshloop.groupbuy.presale.schemas import (
    CancelIn,
    DepositIn,
    LiveLaunchIn,
    OperatorPresaleOut,
    PresaleCardOut,
    PresaleIn,
    PresalesOut,
    PurchaseOrderOut,
    PurchaseOut,
    PurchasesOut,
)
from freshloop.groupbuy.presale.selectors import (
    presale_card,
    presale_card_of,
    presale_get,
    presales_list,
    purchases_of_person,
)
from freshloop.groupbuy.presale.services import (
    PresaleTerms,
    PurchaseResult,
    presale_balance_pay,
    presale_cancel,
    presale_create,
    presale_deposit_pay,
    presale_live_launch,
    presale_live_withdraw,
    presale_update,
)
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.orders.errors import ORDER_CREATE_ERRORS
from freshloop.orders.schemas import order_out

router = Router(tags=["社区团购·预售 presale"])

OPERATOR_ROLES = (Role.COMMUNITY_MANAGER,)
# Who may put a presale's card into a live room or take it out: its operators and the hosts.
LIVE_CARD_ROLES = (Role.COMMUNITY_MANAGER, Role.LIVE_HOST)
PresaleNo = Path(..., min_length=1, max_length=40, title="预售编号")
PurchaseNo = Path(..., min_length=1, max_length=40, title="预售单号")
Limit = Query(20, ge=1, le=100, title="每页条数")
Offset = Query(0, ge=0, le=100_000, title="跳过条数")
# Setting units aside: inventory's own refusals of a block (never expected with fresh refs).
BLOCK_ERRORS = (Conflict, InvalidInput)


def _card(presale_no: str) -> PresaleCardOut:
    return PresaleCardOut(**vars(presale_card(presale_no=presale_no)))


def _operator_view(presale: Presale) -> OperatorPresaleOut:
    return OperatorPresaleOut(
        **vars(presale_card_of(presale)),
        sku_id=presale.sku_id,
        live_session_code=presale.live_session_code,
        units_taken=presale.units_taken,
        cancel_reason=presale.cancel_reason,
        created_by=presale.created_by,
        created_at=presale.created_at,
        ended_at=presale.ended_at,
        settled_at=presale.settled_at,
    )


def purchase_out(purchase: PresalePurchase) -> PurchaseOut:
    presale = purchase.presale
    return PurchaseOut(
        purchase_no=purchase.purchase_no,
        presale_no=presale.presale_no,
        presale_name=presale.name,
        quantity=purchase.quantity,
        status=purchase.status,
        status_label=purchase.get_status_display(),
        deposit_total_fen=purchase.deposit_unit_fen * purchase.quantity,
        worth_total_fen=purchase.worth_unit_fen * purchase.quantity,
        balance_total_fen=purchase.balance_unit_fen * purchase.quantity,
        deposit_order_no=purchase.deposit_order_no,
        balance_order_no=purchase.balance_order_no,
        deposit_paid_at=purchase.deposit_paid_at,
        balance_paid_at=purchase.balance_paid_at,
        balance_starts_at=presale.balance_starts_at,
        balance_ends_at=presale.balance_ends_at,
        deposit_refundable=presale.deposit_refundable,
    )


def _placed(result: PurchaseResult) -> Status[PurchaseOrderOut]:
    purchase = PresalePurchase.objects.select_related("presale").get(pk=result.purchase.pk)
    body = PurchaseOrderOut(
        purchase=purchase_out(purchase),
        order=order_out(result.order, detail=True),  # type: ignore[arg-type]
    )
    return Status(201 if result.created else 200, body)


def _terms(body: PresaleIn) -> PresaleTerms:
    return PresaleTerms(**body.model_dump())


# --- anyone -------------------------------------------------------------------------------------


@router.get(
    "/presales/{presale_no}",
    response=PresaleCardOut,
    summary="预售详情（商品卡片）：定金、膨胀抵扣、尾款、各阶段时间、剩余名额",
)
@raises(PresaleNotFound)
def presale_detail(request: HttpRequest, presale_no: str = PresaleNo) -> PresaleCardOut:
    return _card(presale_no)


# --- consumers ----------------------------------------------------------------------------------


@router.post(
    "/presales/{presale_no}/deposit",
    auth=ConsumerAuth(),
    response={201: PurchaseOrderOut, 200: PurchaseOrderOut},
    summary="支付定金：生成定金订单（返回 order_no 去收银台）；同一 Idempotency-Key 重试返回同一订单",
)
@raises(
    PresaleNotFound,
    PresaleDepositClosed,
    PresaleSoldOut,
    PresaleLimitExceeded,
    PresaleQuantityInvalid,
    *ORDER_CREATE_ERRORS,
)
def presale_deposit(
    request: HttpRequest,
    body: DepositIn,
    presale_no: str = PresaleNo,
    # As on every order path: without a key a retry is a new purchase (the H5 page always
    # sends one per purchase intent).
    idempotency_key: str = Header("", alias="Idempotency-Key", max_length=64, title="幂等键"),
) -> Status[PurchaseOrderOut]:
    result = presale_deposit_pay(
        presale=presale_get(presale_no=presale_no),
        person=request_person(request),
        quantity=body.quantity,
        address=body.address.model_dump() if body.address is not None else {},
        address_id=body.address_id,
        idempotency_key=idempotency_key,
    )
    return _placed(result)


@router.post(
    "/presale-purchases/{purchase_no}/balance",
    auth=ConsumerAuth(),
    response={201: PurchaseOrderOut, 200: PurchaseOrderOut},
    summary="支付尾款：生成尾款订单（预售价 − 定金抵扣），收货地址同定金订单；重复请求返回同一待付订单",
)
@raises(
    PresalePurchaseNotFound,
    PresaleDepositUnpaid,
    PresalePurchaseClosed,
    PresaleBalanceClosed,
    *ORDER_CREATE_ERRORS,
)
def presale_balance(
    request: HttpRequest, purchase_no: str = PurchaseNo
) -> Status[PurchaseOrderOut]:
    result = presale_balance_pay(purchase_no=purchase_no, person=request_person(request))
    return _placed(result)


@router.get(
    "/presale-purchases",
    auth=ConsumerAuth(),
    response=PurchasesOut,
    summary="我的预售：定金、尾款、状态",
)
@raises()
def my_presales(request: HttpRequest, limit: int = Limit, offset: int = Offset) -> PurchasesOut:
    total, rows = purchases_of_person(person=request_person(request), limit=limit, offset=offset)
    return PurchasesOut(total=total, items=[purchase_out(row) for row in rows])


# --- operators ----------------------------------------------------------------------------------


@router.get(
    "/presales",
    auth=OperatorAuth(*OPERATOR_ROLES),
    response=PresalesOut,
    summary="运营：预售列表（可按状态筛选）",
)
@raises()
def presales_index(
    request: HttpRequest,
    status: str | None = Query(
        None, pattern="^(draft|deposit_open|balance_open|ended|cancelled)$", title="状态"
    ),
    limit: int = Limit,
    offset: int = Offset,
) -> PresalesOut:
    total, rows = presales_list(status=status, limit=limit, offset=offset)
    return PresalesOut(total=total, items=[_operator_view(row) for row in rows])


@router.post(
    "/presales",
    auth=OperatorAuth(*OPERATOR_ROLES),
    response={201: OperatorPresaleOut},
    summary="运营：创建预售（创建即预留库存；定金开始时间到达后自动开放）",
)
@raises(PresaleInvalid, *BLOCK_ERRORS)
def presales_create(request: HttpRequest, body: PresaleIn) -> Status[OperatorPresaleOut]:
    presale = presale_create(terms=_terms(body), actor=request_actor(request))
    return Status(201, _operator_view(presale))


@router.put(
    "/presales/{presale_no}",
    auth=OperatorAuth(*OPERATOR_ROLES),
    response=OperatorPresaleOut,
    summary="运营：修改预售（仅限定金开始之前）",
)
@raises(PresaleNotFound, PresaleStateInvalid, PresaleInvalid, *BLOCK_ERRORS)
def presales_update(
    request: HttpRequest, body: PresaleIn, presale_no: str = PresaleNo
) -> OperatorPresaleOut:
    presale = presale_update(
        presale_no=presale_no, terms=_terms(body), actor=request_actor(request)
    )
    return _operator_view(presale)


@router.post(
    "/presales/{presale_no}/cancel",
    auth=OperatorAuth(*OPERATOR_ROLES),
    response=OperatorPresaleOut,
    summary="运营：取消预售（尾款开始前）：未付定金订单取消，已付定金原路退回，库存释放",
)
@raises(PresaleNotFound, PresaleStateInvalid, PresaleInvalid)
def presales_cancel(
    request: HttpRequest, body: CancelIn, presale_no: str = PresaleNo
) -> OperatorPresaleOut:
    presale = presale_cancel(
        presale_no=presale_no, reason=body.reason, actor=request_actor(request)
    )
    return _operator_view(presale)


@router.post(
    "/presales/{presale_no}/live",
    auth=OperatorAuth(*LIVE_CARD_ROLES),
    response=OperatorPresaleOut,
    summary="运营/主播：把预售作为商品卡片上架到直播间（按直播场次编号；再次上架到别的场次即移过去）",
)
@raises(PresaleNotFound, PresaleStateInvalid, PresaleInvalid)
def presales_live_launch(
    request: HttpRequest, body: LiveLaunchIn, presale_no: str = PresaleNo
) -> OperatorPresaleOut:
    presale = presale_live_launch(
        presale_no=presale_no, session_code=body.session_code, actor=request_actor(request)
    )
    return _operator_view(presale)


@router.delete(
    "/presales/{presale_no}/live",
    auth=OperatorAuth(*LIVE_CARD_ROLES),
    response=OperatorPresaleOut,
    summary="运营/主播：从直播间下架预售卡片（预售本身照常进行）",
)
@raises(PresaleNotFound)
def presales_live_withdraw(request: HttpRequest, presale_no: str = PresaleNo) -> OperatorPresaleOut:
    presale = presale_live_withdraw(presale_no=presale_no, actor=request_actor(request))
    return _operator_view(presale)
