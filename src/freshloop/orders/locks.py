"""Row locks of the orders module: one order (or one refund request, or one after-sales case,
and then its order) at a time, so locks are always taken in one order; payments lock a payment
before its order.
A buyer's address book is locked as a whole (all their rows, in primary-key order) and never
together with an order."""

from __future__ import annotations

from freshloop.orders.errors import (
    AfterSalesNotFound,
    OrderNotFound,
    RefundNotFound,
)
from freshloop.orders.models import (
    Address,
    AfterSalesCase,
    Order,
    RefundRequest,
)


def order_lock(order_no: str) -> Order:
    order = Order.objects.select_for_update().filter(order_no=order_no).first()
    if order is None:
        raise OrderNotFound(detail={"order_no": order_no})
    return order


def refund_request_lock(refund_no: str) -> RefundRequest:
    refund = RefundRequest.objects.select_for_update().filter(refund_no=refund_no).first()
    if refund is None:
        raise RefundNotFound(detail={"refund_no": refund_no})
    return refund


def addresses_lock(person_id: int) -> list[Address]:
    """Every saved address of one buyer, locked in primary-key order (the book's limit and its
    one default are decided under this lock)."""
    return list(Address.objects.select_for_update().filter(person_id=person_id).order_by("pk"))


def aftersales_case_lock(case_id: int) -> AfterSalesCase:
    case = (
        AfterSalesCase.objects.select_for_update()
        .select_related("order")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise AfterSalesNotFound(detail={"case_id": case_id})
    return case
