"""What the pricing engine is given: the cart lines at list price and every offer that may
lower them — member benefits, coupons, campaigns and special prices.

Plain frozen data, built by `promotions.selectors` (from the database) or by the module that
grants a special price; `promotions.pricing` re-exports all of it and is the one public entry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import sys
import types
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class QuoteLine:
    """One SKU of the cart at its list price (one line per SKU)."""

    sku_id: int
    product_id: int
    category_id: int
    name: str
    unit_price_fen: int
    quantity: int


class SpecialPriceKind(enum.StrEnum):
    FLASH_SALE = "flash_sale"  # a live flash sale's price for a buyer holding a claim
    GROUP_DEAL_TIER = "group_deal_tier"  # the price of the tier a group deal reached
    PRESALE = "presale"
    SUBSCRIPTION = "subscription"
    MEMBER_PRICE = "member_price"


# A special price that covers every unit of its line. A number rather than None, so a caller
# that checks a cart against the cap (orders refuses more units than it) compares plain ints.
NO_QUANTITY_CAP = sys.maxsize


@dataclasses.dataclass(frozen=True)
class SpecialPrice:
    """A trusted unit price for one SKU of one quote, granted by the module that verified the
    buyer's right to it (a live flash-sale claim, a group deal, a presale, a subscription, a
    member price). Never built from client input: no public API has a field for it. Its SKU is
    the key of the `special_prices` mapping a quote is given (sku_id -> SpecialPrice, as in
    `orders.services.CheckoutRequest.special_prices`), not a field that could disagree with it.

    `label` is the price line the buyer sees (直播秒杀价, 拼团价…); `ref` names the grant (the
    flash-sale claim, the group deal) and is carried on that line as `source_ref`;
    `max_quantity` is how many units of the line the price covers (the rest pay the list
    price; orders refuses a checkout of more units than that). `kind` defaults to a live flash
    sale, the first module to grant one. How it prices and stacks: `pricing._apply_unit_prices`.
    """

    unit_price_fen: int
    label: str
    ref: str
    max_quantity: int = NO_QUANTITY_CAP
    kind: SpecialPriceKind = SpecialPriceKind.FLASH_SALE


NO_SPECIAL_PRICES: Mapping[int, SpecialPrice] = types.MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class MemberBenefits:
    level_name: str
    discount_percent: int = 0
    free_shipping: bool = False


@dataclasses.dataclass(frozen=True)
class CouponOffer:
    """What pricing needs to know about one coupon in the buyer's wallet (see CouponTemplate)."""

    coupon_id: int
    template_id: int
    name: str
    kind: str
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    status: str = "available"
    amount_off_fen: int = 0
    percent_off_bp: int = 0
    cap_fen: int | None = None
    threshold_fen: int = 0
    live_only: bool = False
    live_session_id: str = ""
    new_customer_only: bool = False
    is_active: bool = True
    stackable_with_campaigns: bool = False
    product_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()
    budget_left_fen: int | None = None


@dataclasses.dataclass(frozen=True)
class Tier:
    threshold_fen: int
    off_fen: int


@dataclasses.dataclass(frozen=True)
class CampaignOffer:
    """An active-or-not campaign as pricing sees it (see models.Campaign)."""

    campaign_id: int
    name: str
    kind: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    channels: frozenset[str]
    prices: Mapping[int, int] = dataclasses.field(default_factory=dict)
    tiers: tuple[Tier, ...] = ()
    product_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()
    is_active: bool = True
    priority: int = 0
    budget_left_fen: int | None = None
