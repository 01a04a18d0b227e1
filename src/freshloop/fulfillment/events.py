"""Fulfillment facts other modules (and fulfillment's own features) react to."""

from __future__ import annotations

import dataclasses

from freshloop.core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShipmentEventBase(DomainEvent):
    shipment_id: int
    shipment_no: str
    order_id: int
    order_no: str
    person_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShipmentStatusChanged(ShipmentEventBase):
    """A parcel moved one step on its timeline (created → … → delivered / exception)."""

    name = "ShipmentStatusChanged"
    status: str
    previous_status: str
    late: bool = False
    """Delivered after the promised date (only meaningful when status is delivered)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExcursionDetected(ShipmentEventBase):
    """A parcel's temperature left its storage class's safe band for longer than tolerated."""

    name = "ExcursionDetected"
    excursion_id: int
    storage: str
    minutes: int
    peak_celsius: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class LotRecalled(DomainEvent):
    """A production lot was flagged unsafe: every customer who got it is to be reached."""

    name = "LotRecalled"
    recall_id: int
    batch_id: int
    reason: str
