"""The carrier provider interface: request a waybill (with its label data), subscribe to a
waybill's tracking, and turn a carrier's push into our tracking updates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

# Our parcel statuses in the order a parcel moves through them; `exception` stands apart.
STATUS_RANK: dict[str, int] = {
    "created": 0,
    "picked": 1,
    "handed_over": 2,
    "in_transit": 3,
    "out_for_delivery": 4,
    "delivered": 5,
}
EXCEPTION = "exception"


@dataclass(frozen=True)
class WaybillRequest:
    shipment_no: str
    carrier_code: str
    storage: str
    weight_g: int
    sender: dict[str, str]
    receiver: dict[str, str]
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Waybill:
    waybill_no: str
    label: dict[str, Any]


@dataclass(frozen=True)
class TrackingUpdate:
    """One step of a parcel's route as a carrier reports it. `external_id` is stable for the
    same step however often the carrier repeats it (Kuaidi100 pushes the whole route each
    time), so replays add nothing."""

    waybill_no: str
    status: str
    occurred_at: dt.datetime
    external_id: str
    description: str = ""
    location: str = ""


class CarrierProvider(Protocol):
    name: str

    def request_waybill(self, request: WaybillRequest) -> Waybill:
        """A waybill number and the label's data for one parcel."""
        ...

    def subscribe_tracking(self, *, waybill_no: str, receiver_city: str, callback_url: str) -> None:
        """Ask the carrier to push this waybill's route to `callback_url`."""
        ...
