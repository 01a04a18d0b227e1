"""What a checkout request must be before it is priced: its delivery address (a saved one or
one typed at checkout), and its fingerprint — what a retry under the same idempotency key must
repeat. Shared by `order_create` and `orders_create_many`."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from freshloop.core.errors import DomainError, InvalidInput
from freshloop.orders.errors import ADDRESS_TITLES, AddressInvalid
from freshloop.orders.models import Order
from freshloop.orders.selectors import address_get_for_person

if TYPE_CHECKING:  # services imports this file; the request type is only annotated here
    from freshloop.orders.services import CheckoutRequest

ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "detail")


def _preview_province(request: CheckoutRequest) -> str:
    """The destination's province for a price preview, as far as it is known yet ("" prices
    with the nationwide shipping rule): a preview never refuses an unfinished address."""
    if request.address_id is not None:
        try:
            saved = address_get_for_person(person=request.person, address_id=request.address_id)
        except DomainError:
            return ""
        return saved.province
    address = request.address if isinstance(request.address, dict) else {}
    return str(address.get("province", "")).strip()[:32]


def _order_address(request: CheckoutRequest) -> dict[str, str]:
    """The copy of the delivery address the order keeps: a saved address of the buyer's
    (`address_id`) or one typed at checkout (`address`) — one of them, not both."""
    if request.address_id is not None:
        if request.address:
            raise InvalidInput(
                "收货地址与地址簿中的地址只能二选一", detail={"fields": ["address", "address_id"]}
            )
        saved = address_get_for_person(person=request.person, address_id=request.address_id)
        return saved.as_order_address()
    return _clean_address(request.address)


def _clean_address(address: dict[str, Any]) -> dict[str, str]:
    if not isinstance(address, dict):
        raise AddressInvalid.for_fields([("address", "请填写收货地址")])
    cleaned = {key: str(address.get(key, "")).strip()[:120] for key in ADDRESS_FIELDS}
    missing = [key for key in ("name", "phone", "province", "city", "detail") if not cleaned[key]]
    if missing:
        raise AddressInvalid.for_fields(
            [(f"address.{key}", f"请填写{ADDRESS_TITLES[key]}") for key in missing]
        )
    return cleaned


def _request_fingerprint(quantities: dict[int, int], request: CheckoutRequest) -> str:
    """What a retry must repeat to be the same request: SKU quantities (merged per SKU),
    coupons, points, channel, source and special prices."""
    body = {
        "items": sorted(quantities.items()),
        "coupons": sorted(request.coupon_ids),
        "points": request.points,
        "channel": request.channel,
        "source": request.source_ref,
    }
    if request.special_prices:
        # The price, not the grant's ref: a retry under a new claim is still the same order.
        body["special"] = sorted(
            (sku_id, special.unit_price_fen) for sku_id, special in request.special_prices.items()
        )
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def _replayed_quantities(request: CheckoutRequest, order: Order) -> dict[int, int]:
    """The SKU quantities a retry of `order`'s request asks for, read without the catalog: the
    product may have left sale since, and a whole-cart checkout (`items=None`) emptied the cart
    lines it bought, so its retry means the cart as it was — the order's own lines."""
    merged: dict[int, int] = {}
    if request.items is None:
        pairs = list(order.lines.values_list("sku_id", "quantity"))
    else:
        pairs = [(item.sku_id, item.quantity) for item in request.items]
    for sku_id, quantity in pairs:
        merged[sku_id] = merged.get(sku_id, 0) + quantity
    return merged
