"""Carrier providers: who gives a parcel its waybill and label, and who tells us where it is.

`carrier_provider(carrier)` answers the provider of a carrier: the sandbox unless the carrier's
credential names a Kuaidi100 (快递100) company code, in which case tracking runs through
Kuaidi100's subscription push while waybills still come from the sandbox numbering (our
warehouses print their own labels until a carrier's e-waybill contract exists)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from freshloop.fulfillment.carriers.base import (
    CarrierProvider,
    TrackingUpdate,
    Waybill,
    WaybillRequest,
)
from freshloop.fulfillment.carriers.kuaidi100 import Kuaidi100Provider
from freshloop.fulfillment.carriers.sandbox import SandboxCarrier

if TYPE_CHECKING:
    from freshloop.fulfillment.models import Carrier

__all__ = [
    "CarrierProvider",
    "Kuaidi100Provider",
    "SandboxCarrier",
    "TrackingUpdate",
    "Waybill",
    "WaybillRequest",
    "carrier_provider",
]


def carrier_provider(carrier: Carrier) -> CarrierProvider:
    from freshloop.fulfillment.models import CarrierCredential

    credential = CarrierCredential.objects.filter(carrier=carrier).first()
    if credential is not None and credential.kuaidi100_company:
        return Kuaidi100Provider(
            company=credential.kuaidi100_company,
            salt=credential.kuaidi100_salt,
            key=credential.kuaidi100_key,
        )
    return SandboxCarrier()
