"""The consumer API of smart subscriptions (FD-1) under /api/v1/food/subscriptions: thin —
parse, find the person, call a service or selector, answer a schema."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from freshloop.core.api_errors import raises
from freshloop.core.errors import NotFound
from freshloop.core.schemas import Id, InputSchema
from freshloop.food.errors import (
    SubscriptionInvalid,
    SubscriptionLimitExceeded,
    SubscriptionNotFound,
    SubscriptionStateInvalid,
)
from freshloop.food.models import Subscription
from freshloop.food.selectors import (
    cadence_suggestion_for,
    subscription_discount_percent,
    subscription_get_for_person,
    subscription_list_for_person,
)
from freshloop.food.services import (
    SubscriptionLineIn,
    subscription_cadence_change,
    subscription_cancel,
    subscription_change,
    subscription_create,
    subscription_pause,
    subscription_payment_change,
    subscription_resume,
    subscription_skip_next,
)
from freshloop.food.subscriptions import subscription_cadence
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.orders.errors import AddressNotFound

router = Router(tags=["订阅配送 food"], auth=ConsumerAuth())

SUBSCRIPTION_NO = r"^SUB_[0-9A-Z]{1,40}$"


class LineIn(InputSchema):
    sku_id: Id = Field(..., title="商品规格")
    quantity: int = Field(1, ge=1, le=20, title="每次数量")


class AddressIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=32, title="收货人")
    phone: str = Field(..., min_length=5, max_length=20, title="手机号")
    province: str = Field(..., min_length=1, max_length=32, title="省份")
    city: str = Field(..., min_length=1, max_length=32, title="城市")
    district: str = Field("", max_length=32, title="区县")
    detail: str = Field(..., min_length=1, max_length=120, title="详细地址")


class SubscriptionIn(InputSchema):
    items: list[LineIn] = Field(..., min_length=1, max_length=5, title="订阅商品")
    cadence_kind: str = Field(..., pattern="^(every_days|weekly|monthly)$", title="周期类型")
    cadence_value: int = Field(..., ge=0, le=90, title="周期值")
    address: AddressIn | None = Field(None, title="收货地址")
    address_id: Id | None = Field(None, title="地址簿中的地址")
    first_delivery_date: dt.date | None = Field(None, strict=False, title="首次配送日")
    payment_method: str = Field(
        "pay_now",
        pattern="^(pay_now|contract)$",
        title="付款方式",
        description="pay_now：下单后提醒付款；contract：按已签约的自动扣款（委托代扣）扣款",
    )
    contract_no: str | None = Field(None, max_length=40, title="代扣协议号（默认最近签约的）")


class PaymentIn(InputSchema):
    payment_method: str = Field(..., pattern="^(pay_now|contract)$", title="付款方式")
    contract_no: str | None = Field(None, max_length=40, title="代扣协议号（默认最近签约的）")


class CadenceIn(InputSchema):
    cadence_kind: str = Field(..., pattern="^(every_days|weekly|monthly)$", title="周期类型")
    cadence_value: int = Field(..., ge=0, le=90, title="周期值")


class ChangeIn(InputSchema):
    items: list[LineIn] | None = Field(None, min_length=1, max_length=5, title="订阅商品")
    address: AddressIn | None = Field(None, title="收货地址")
    address_id: Id | None = Field(None, title="地址簿中的地址")


class PauseIn(InputSchema):
    until: dt.date = Field(..., strict=False, title="暂停至（含）")


class SubscriptionOut(Schema):
    subscription_no: str
    title: str
    items: list[dict[str, int]]
    cadence_kind: str
    cadence_value: int
    cadence_label: str
    next_delivery_date: dt.date
    status: str
    status_label: str
    paused_until: dt.date | None
    pause_reason: str
    payment_method: str
    payment_label: str
    contract_no: str | None


class SuggestionOut(Schema):
    sku_id: int
    every_days: int | None
    headline: str
    reason: str
    runs_out_on: dt.date | None
    discount_percent: int


def _out(subscription: Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        subscription_no=subscription.subscription_no,
        title=subscription.title,
        items=subscription.items,
        cadence_kind=subscription.cadence_kind,
        cadence_value=subscription.cadence_value,
        cadence_label=subscription_cadence(subscription).label,
        next_delivery_date=subscription.next_delivery_date,
        status=subscription.status,
        status_label=subscription.get_status_display(),
        paused_until=subscription.paused_until,
        pause_reason=subscription.pause_reason,
        payment_method=subscription.payment_method,
        payment_label=subscription.get_payment_method_display(),
        contract_no=(
            subscription.payment_contract.contract_no if subscription.payment_contract else None
        ),
    )


@router.get("/subscriptions", response=list[SubscriptionOut], summary="我的订阅")
def subscriptions_list(request: HttpRequest) -> list[SubscriptionOut]:
    return [_out(s) for s in subscription_list_for_person(person=request_person(request))]


@router.get(
    "/subscriptions/suggestion",
    response=SuggestionOut,
    summary="按家庭购买记录建议的配送周期（预计喝完/用完的日期与理由）",
)
@raises(NotFound)
def suggestion(request: HttpRequest, sku_id: Id) -> SuggestionOut:
    found = cadence_suggestion_for(person=request_person(request), sku_id=sku_id)
    percent = subscription_discount_percent(sku_id=sku_id)
    if found is None:
        return SuggestionOut(
            sku_id=sku_id,
            every_days=None,
            headline="购买记录还不够，先按每 7 天一次试试",
            reason="至少两次购买后，我们会按您的实际用量建议周期。",
            runs_out_on=None,
            discount_percent=percent,
        )
    return SuggestionOut(
        sku_id=sku_id,
        every_days=found.every_days,
        headline=found.headline,
        reason=found.reason,
        runs_out_on=found.runs_out_on,
        discount_percent=percent,
    )


@router.post("/subscriptions", response={201: SubscriptionOut}, summary="订阅商品，按周期自动下单")
@raises(SubscriptionInvalid, SubscriptionLimitExceeded, NotFound, AddressNotFound)
def subscriptions_create(request: HttpRequest, body: SubscriptionIn) -> Status:
    subscription = subscription_create(
        person=request_person(request),
        items=[SubscriptionLineIn(sku_id=i.sku_id, quantity=i.quantity) for i in body.items],
        cadence_kind=body.cadence_kind,
        cadence_value=body.cadence_value,
        address=body.address.model_dump() if body.address else None,
        address_id=body.address_id,
        first_delivery_date=body.first_delivery_date,
        payment_method=body.payment_method,
        contract_no=body.contract_no,
    )
    return Status(201, _out(subscription))


@router.get("/subscriptions/{subscription_no}", response=SubscriptionOut, summary="订阅详情")
@raises(SubscriptionNotFound)
def subscription_detail(request: HttpRequest, subscription_no: str) -> SubscriptionOut:
    return _out(
        subscription_get_for_person(person=request_person(request), subscription_no=subscription_no)
    )


@router.post(
    "/subscriptions/{subscription_no}/skip", response=SubscriptionOut, summary="跳过下一次配送"
)
@raises(SubscriptionNotFound, SubscriptionStateInvalid)
def subscription_skip(request: HttpRequest, subscription_no: str) -> SubscriptionOut:
    return _out(
        subscription_skip_next(person=request_person(request), subscription_no=subscription_no)
    )


@router.post(
    "/subscriptions/{subscription_no}/pause", response=SubscriptionOut, summary="暂停至某日"
)
@raises(SubscriptionNotFound, SubscriptionStateInvalid, SubscriptionInvalid)
def subscription_pause_view(
    request: HttpRequest, subscription_no: str, body: PauseIn
) -> SubscriptionOut:
    return _out(
        subscription_pause(
            person=request_person(request), subscription_no=subscription_no, until=body.until
        )
    )


@router.post(
    "/subscriptions/{subscription_no}/resume", response=SubscriptionOut, summary="恢复配送"
)
@raises(SubscriptionNotFound, SubscriptionStateInvalid)
def subscription_resume_view(request: HttpRequest, subscription_no: str) -> SubscriptionOut:
    return _out(
        subscription_resume(person=request_person(request), subscription_no=subscription_no)
    )


@router.post(
    "/subscriptions/{subscription_no}/cadence", response=SubscriptionOut, summary="修改配送周期"
)
@raises(SubscriptionNotFound, SubscriptionStateInvalid, SubscriptionInvalid)
def subscription_cadence_view(
    request: HttpRequest, subscription_no: str, body: CadenceIn
) -> SubscriptionOut:
    return _out(
        subscription_cadence_change(
            person=request_person(request),
            subscription_no=subscription_no,
            cadence_kind=body.cadence_kind,
            cadence_value=body.cadence_value,
        )
    )


@router.post(
    "/subscriptions/{subscription_no}/change",
    response=SubscriptionOut,
    summary="修改订阅商品或收货地址（从下一次未下单的配送起）",
)
@raises(
    SubscriptionNotFound, SubscriptionStateInvalid, SubscriptionInvalid, NotFound, AddressNotFound
)
def subscription_change_view(
    request: HttpRequest, subscription_no: str, body: ChangeIn
) -> SubscriptionOut:
    return _out(
        subscription_change(
            person=request_person(request),
            subscription_no=subscription_no,
            items=(
                [SubscriptionLineIn(sku_id=i.sku_id, quantity=i.quantity) for i in body.items]
                if body.items is not None
                else None
            ),
            address=body.address.model_dump() if body.address else None,
            address_id=body.address_id,
        )
    )


@router.post(
    "/subscriptions/{subscription_no}/payment",
    response=SubscriptionOut,
    summary="修改付款方式：自动扣款（需先签约）或下单后提醒付款",
)
@raises(SubscriptionNotFound, SubscriptionStateInvalid, SubscriptionInvalid)
def subscription_payment_view(
    request: HttpRequest, subscription_no: str, body: PaymentIn
) -> SubscriptionOut:
    return _out(
        subscription_payment_change(
            person=request_person(request),
            subscription_no=subscription_no,
            payment_method=body.payment_method,
            contract_no=body.contract_no,
        )
    )


@router.post(
    "/subscriptions/{subscription_no}/cancel", response=SubscriptionOut, summary="取消订阅"
)
@raises(SubscriptionNotFound)
def subscription_cancel_view(request: HttpRequest, subscription_no: str) -> SubscriptionOut:
    return _out(
        subscription_cancel(person=request_person(request), subscription_no=subscription_no)
    )
