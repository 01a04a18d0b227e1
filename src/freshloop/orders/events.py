"""Order facts other modules react to (payments refunds, points, data hub, fulfillment)."""

from __future__ import annotations

import dataclasses

from freshloop.core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderEventBase(DomainEvent):
    order_id: int
    order_no: str
    person_id: int
    channel: str
    source_ref: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderCreated(OrderEventBase):
    name = "OrderCreated"
    total_fen: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderPaid(OrderEventBase):
    name = "OrderPaid"
    paid_fen: int
    provider: str
    transaction_id: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderCancelled(OrderEventBase):
    name = "OrderCancelled"
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderAllocated(OrderEventBase):
    name = "OrderAllocated"


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderShipped(OrderEventBase):
    name = "OrderShipped"
    carrier: str
    tracking_no: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderDelivered(OrderEventBase):
    name = "OrderDelivered"


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderCompleted(OrderEventBase):
    name = "OrderCompleted"


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderRefundRequested(OrderEventBase):
    name = "OrderRefundRequested"
    refund_no: str
    amount_fen: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderRefundApproved(DomainEvent):
    """An operator approved a refund: the payments module asks the provider to pay it back."""

    name = "OrderRefundApproved"
    order_id: int
    order_no: str
    refund_no: str
    amount_fen: int
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderRefundRejected(OrderEventBase):
    """An operator refused a refund request; `reason` is the operator's note to the buyer."""

    name = "OrderRefundRejected"
    refund_no: str
    amount_fen: int
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderRefunded(OrderEventBase):
    name = "OrderRefunded"
    refund_no: str
    amount_fen: int
    fully: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class AfterSalesCaseOpened(OrderEventBase):
    name = "AfterSalesCaseOpened"
    case_no: str
    kind: str
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class AfterSalesCaseApproved(OrderEventBase):
    name = "AfterSalesCaseApproved"
    case_no: str
    refund_no: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class AfterSalesCaseRejected(OrderEventBase):
    name = "AfterSalesCaseRejected"
    case_no: str
    note: str
