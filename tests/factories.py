"""Typed helpers that set up test data through the real services."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from django.contrib.auth.models import User

from freshloop.core.audit import Actor
from freshloop.core.permissions import Role, roles_ensure, user_role_assign
from freshloop.identity.models import IdentifierType, Person
from freshloop.identity.services import person_resolve_identifier, phone_normalise

if TYPE_CHECKING:
    from freshloop.catalog.models import Sku
    from freshloop.inventory.models import Warehouse
    from freshloop.orders.models import Order
    from freshloop.promotions.models import Coupon, CouponTemplate

_phone_numbers = itertools.count(13800000001)


def next_phone() -> str:
    """A fresh valid mainland mobile number for each call."""
    return str(next(_phone_numbers))


def make_person(*, phone: str | None = None, source: str = "test") -> Person:
    resolution = person_resolve_identifier(
        identifier_type=IdentifierType.PHONE,
        value=phone_normalise(phone or next_phone()),
        verified=True,
        source=source,
    )
    return resolution.person


def make_staff_user(
    username: str, *roles: Role, password: str = "pass-1234", superuser: bool = False
) -> User:
    roles_ensure()
    if superuser:
        user = User.objects.create_superuser(username=username, password=password)
    else:
        user = User.objects.create_user(username=username, password=password, is_staff=True)
    for role in roles:
        user_role_assign(actor=Actor.system("tests"), user=user, role=role)
    return user


# --- commerce ---------------------------------------------------------------------------------

_codes = itertools.count(1)


def make_warehouse(
    code: str = "sh", *, province: str = "上海", chilled: bool = True, frozen: bool = True
) -> Warehouse:
    from freshloop.inventory.services import warehouse_upsert

    return warehouse_upsert(
        code=code,
        name=f"{province}仓",
        province=province,
        city=province,
        chilled=chilled,
        frozen=frozen,
    )


def make_sku(
    *,
    price_fen: int = 1000,
    storage: str = "chilled",
    stock: int = 0,
    warehouse: Warehouse | None = None,
    name: str = "鲜牛奶",
    category_code: str = "dairy",
    channels: tuple[str, ...] = ("live", "shop", "groupbuy"),
) -> Sku:
    """A product with one SKU, optionally with `stock` units received into `warehouse`."""
    from freshloop.catalog.models import StorageCondition
    from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
    from freshloop.inventory.services import stock_receive

    number = next(_codes)
    category = category_upsert(code=category_code, name=category_code)
    product = product_upsert(
        code=f"p{number}",
        name=name,
        category=category,
        storage=StorageCondition(storage),
        shelf_life_days=7,
        channels=channels,
    )
    sku = sku_upsert(product=product, code=f"s{number}", spec="950ml", price_fen=price_fen)
    if stock:
        stock_receive(
            sku=sku,
            warehouse=warehouse or make_warehouse(),
            quantity=stock,
            actor=Actor.system("tests"),
        )
    return sku


def product_channels_set(sku: Sku, *, channels: tuple[str, ...]) -> None:
    """Sell `sku`'s product only in `channels` (through the catalog's own upsert)."""
    from freshloop.catalog.services import product_upsert

    product = sku.product
    product_upsert(
        code=product.code,
        name=product.name,
        category=product.category,
        storage=product.storage,
        shelf_life_days=product.shelf_life_days,
        channels=channels,
    )


# --- orders and coupons -----------------------------------------------------------------------

ADDRESS = {
    "name": "王小明",
    "phone": "13800138000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "detail": "张江路 1 号",
}
"""A complete delivery address (every field checkout requires)."""

SAVED_ADDRESS = {
    "name": "张三",
    "phone": "13800138000",
    "province": "上海市",
    "city": "上海市",
    "district": "浦东新区",
    "detail": "张江路1号",
}
"""An address-book entry as the region picker and 智能填写 give it (full province names)."""

MARKETER = Actor(type="user", id="9", label="市场部小周")


def make_order(
    person: Person,
    *items: tuple[Sku, int],
    coupons: list[int] | None = None,
    points: int = 0,
    key: str = "",
    channel: str = "shop",
    source_ref: str = "",
) -> Order:
    """An unpaid order placed through the real checkout (priced, stock reserved, audited)."""
    from freshloop.orders.services import CheckoutItem, CheckoutRequest, order_create

    order, _ = order_create(
        request=CheckoutRequest(
            person=person,
            channel=channel,
            source_ref=source_ref,
            items=[CheckoutItem(sku_id=sku.pk, quantity=quantity) for sku, quantity in items],
            coupon_ids=coupons or [],
            points=points,
            address=dict(ADDRESS),
            idempotency_key=key,
        )
    )
    return order


def give_coupon(person: Person, template: CouponTemplate) -> Coupon:
    """Issue one coupon of `template` to `person` by hand, as an operator would."""
    from freshloop.promotions.services import coupon_issue

    result = coupon_issue(template=template, people=[person], source="manual", actor=MARKETER)
    assert len(result.issued) == 1, result.skipped
    return result.issued[0]
