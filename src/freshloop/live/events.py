"""Live room facts: recorded by the data hub (funnel view → add-to-cart → pay per session) and
pushed to the room and the host console."""

from __future__ import annotations

import dataclasses
import datetime as dt

from freshloop.core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class LiveEventBase(DomainEvent):
    session_code: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class LiveSessionStarted(LiveEventBase):
    name = "LiveSessionStarted"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LiveSessionEnded(LiveEventBase):
    name = "LiveSessionEnded"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LiveViewerEvent(LiveEventBase):
    """One viewer's behaviour in the room: join, leave, heartbeat, click_product, comment, like,
    add_to_cart, order, pay — with the OneID, so the funnel can be computed per session."""

    name = "LiveViewerEvent"
    action: str
    person_id: int
    one_id: str
    sku_id: int | None = None
    order_no: str = ""
    amount_fen: int = 0
    dwell_seconds: int = 0


# --- abandoned carts (LV-5) -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class LiveCartAbandoned(LiveEventBase):
    """A viewer added products in the room and did not pay within the configured minutes: the
    trigger of the journey the brand chose to win the cart back (SCRM)."""

    name = "LiveCartAbandoned"
    person_id: int
    one_id: str
    sku_ids: tuple[int, ...]
    added_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class LiveCartRecovered(LiveEventBase):
    """An abandoned cart was paid after all (any channel, within the recovery window)."""

    name = "LiveCartRecovered"
    person_id: int
    order_no: str
    sku_ids: tuple[int, ...]
    amount_fen: int


# --- flash sales (LV-4) ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlashSaleStarted(LiveEventBase):
    name = "FlashSaleStarted"
    flash_sale_id: int
    sku_id: int
    price_fen: int
    quantity: int
    per_user_limit: int
    ends_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlashSaleEnded(LiveEventBase):
    name = "FlashSaleEnded"
    flash_sale_id: int
    claimed: int
    paid: int
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlashSaleClaimed(LiveEventBase):
    """A buyer holds units at the flash price; `order_no` is the unpaid order that pays them."""

    name = "FlashSaleClaimed"
    flash_sale_id: int
    person_id: int
    quantity: int
    order_no: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlashSaleClaimClosed(LiveEventBase):
    """A claim's order was paid (`status` "paid") or cancelled (`status` "released")."""

    name = "FlashSaleClaimClosed"
    flash_sale_id: int
    person_id: int
    quantity: int
    order_no: str
    status: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlashSaleStockChanged(LiveEventBase):
    """Units still to be had, for the room's counter ("仅剩 N 件")."""

    name = "FlashSaleStockChanged"
    flash_sale_id: int
    remaining: int
