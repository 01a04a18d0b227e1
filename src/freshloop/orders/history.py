"""Import finished orders from before FreshLoop (an old shop's export, an ERP, the demo)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from freshloop.catalog.models import Sku
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput
from freshloop.core.money import allocate
from freshloop.identity.models import Person
from freshloop.orders.models import (
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
)


@dataclass(frozen=True)
class HistoricalLine:
    sku: Sku
    quantity: int
    unit_price_fen: int


@dataclass(frozen=True)
class HistoricalOrder:
    """A finished order from before FreshLoop (an export of the old shop, ERP or the demo)."""

    order_no: str
    person: Person
    channel: str
    source_ref: str
    lines: Sequence[HistoricalLine]
    discount_fen: int
    shipping_fen: int
    created_at: dt.datetime
    province: str


@transaction.atomic
def orders_import_history(*, records: Sequence[HistoricalOrder], actor: Actor) -> int:
    """Load completed historical orders as facts: no stock moves, no coupons, no payment.

    Idempotent by order number (already-imported numbers are skipped), so an interrupted import
    can simply be run again. Points for the imported spend are the caller's decision.
    """
    existing = set(
        Order.objects.filter(order_no__in=[r.order_no for r in records]).values_list(
            "order_no", flat=True
        )
    )
    fresh = [r for r in records if r.order_no not in existing]
    orders = []
    for record in fresh:
        subtotal = sum(line.unit_price_fen * line.quantity for line in record.lines)
        if not record.lines or not 0 <= record.discount_fen <= subtotal:
            raise InvalidInput("历史订单数据不正确", detail={"order_no": record.order_no})
        total = subtotal - record.discount_fen + record.shipping_fen
        explanation = [
            {"code": "subtotal", "label": "商品金额", "amount_fen": subtotal},
            {"code": "shipping", "label": "运费", "amount_fen": record.shipping_fen},
        ]
        if record.discount_fen:
            explanation.append(
                {"code": "import", "label": "历史订单优惠", "amount_fen": -record.discount_fen}
            )
        explanation.append({"code": "total", "label": "应付", "amount_fen": total})
        paid_at = record.created_at + dt.timedelta(minutes=3)
        orders.append(
            Order(
                order_no=record.order_no,
                person=record.person,
                channel=record.channel,
                source_ref=record.source_ref,
                status=OrderStatus.COMPLETED,
                subtotal_fen=subtotal,
                discount_fen=record.discount_fen,
                shipping_fen=record.shipping_fen,
                total_fen=total,
                paid_fen=total,
                price_explanation=explanation,
                province=record.province,
                payment_provider="import",
                transaction_id=f"IMPORT-{record.order_no}",
                created_at=record.created_at,
                paid_at=paid_at,
                updated_at=paid_at + dt.timedelta(days=3),
            )
        )
    Order.objects.bulk_create(orders, batch_size=500)
    saved = {o.order_no: o for o in Order.objects.filter(order_no__in=[r.order_no for r in fresh])}
    lines: list[OrderLine] = []
    timeline: list[OrderEvent] = []
    for record in fresh:
        order = saved[record.order_no]
        shares = allocate(
            record.discount_fen,
            [line.unit_price_fen * line.quantity for line in record.lines],
        )
        for line, share in zip(record.lines, shares, strict=True):
            lines.append(
                OrderLine(
                    order=order,
                    sku=line.sku,
                    product_name=line.sku.product.name,
                    spec=line.sku.spec,
                    unit_price_fen=line.unit_price_fen,
                    quantity=line.quantity,
                    discount_fen=share,
                    total_fen=line.unit_price_fen * line.quantity - share,
                )
            )
        steps = [
            ("", OrderStatus.PENDING_PAYMENT, "下单", dt.timedelta(0)),
            (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, "支付成功", dt.timedelta(minutes=3)),
            (OrderStatus.PAID, OrderStatus.SHIPPED, "已发货", dt.timedelta(hours=20)),
            (OrderStatus.SHIPPED, OrderStatus.DELIVERED, "已签收", dt.timedelta(days=2)),
            (OrderStatus.DELIVERED, OrderStatus.COMPLETED, "交易完成", dt.timedelta(days=3)),
        ]
        timeline += [
            OrderEvent(
                order=order,
                from_status=before,
                to_status=after,
                note=note,
                actor="import",
                created_at=record.created_at + offset,
            )
            for before, after, note, offset in steps
        ]
    OrderLine.objects.bulk_create(lines, batch_size=1000)
    OrderEvent.objects.bulk_create(timeline, batch_size=1000)
    audit_record(
        actor=actor,
        action="orders.import_history",
        target_type="orders.Order",
        target_id="",
        after={"imported": len(fresh), "skipped": len(existing)},
    )
    return len(fresh)
