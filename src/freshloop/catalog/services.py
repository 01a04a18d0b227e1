"""Catalog writes. `*_upsert` are keyed by code so imports and the demo seed can re-run safely."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction

from freshloop.catalog.models import Batch, Category, Product, Sku, StorageCondition
from freshloop.core import clock
from freshloop.core.errors import InvalidInput


def category_upsert(
    *, code: str, name: str, parent: Category | None = None, sort_order: int = 0
) -> Category:
    category, _ = Category.objects.update_or_create(
        code=code, defaults={"name": name, "parent": parent, "sort_order": sort_order}
    )
    return category


@transaction.atomic
def product_upsert(
    *,
    code: str,
    name: str,
    category: Category,
    storage: StorageCondition,
    shelf_life_days: int,
    origin: str = "",
    description: str = "",
    certifications: Sequence[str] = (),
    allergens: Sequence[str] = (),
    image_url: str = "",
    channels: Sequence[str] = ("live", "shop", "groupbuy"),
) -> Product:
    if shelf_life_days <= 0:
        raise InvalidInput("保质期必须大于 0 天", detail={"shelf_life_days": shelf_life_days})
    unknown = set(channels) - {"live", "shop", "groupbuy"}
    if unknown:
        raise InvalidInput("销售渠道不正确", detail={"channels": sorted(unknown)})
    fields = {
        "name": name,
        "category": category,
        "storage": storage,
        "shelf_life_days": shelf_life_days,
        "origin": origin,
        "description": description,
        "certifications": list(certifications),
        "allergens": list(allergens),
        "image_url": image_url,
        "sold_in_live": "live" in channels,
        "sold_in_shop": "shop" in channels,
        "sold_in_groupbuy": "groupbuy" in channels,
    }
    product, _ = Product.objects.update_or_create(
        code=code, defaults=fields, create_defaults={**fields, "created_at": clock.now()}
    )
    return product


def sku_upsert(*, product: Product, code: str, spec: str, price_fen: int) -> Sku:
    if price_fen <= 0:
        raise InvalidInput("售价必须大于 0", detail={"price_fen": price_fen})
    sku, _ = Sku.objects.update_or_create(
        code=code, defaults={"product": product, "spec": spec, "price_fen": price_fen}
    )
    return sku


def batch_register(
    *,
    sku: Sku,
    batch_no: str,
    produced_on: dt.date,
    expires_on: dt.date | None = None,
    origin_detail: str = "",
    inspection_note: str = "",
) -> Batch:
    """Record a production lot; the expiry defaults to production date + the product's shelf life.

    Re-registering the same batch number returns the existing lot (imports re-run safely) but
    refuses different dates: two lots with one number would make traceability lie.
    """
    batch_no = batch_no.strip()
    if not batch_no or len(batch_no) > 64:
        raise InvalidInput("批次号不能为空且不超过 64 个字符", detail={"batch_no": batch_no})
    expires = expires_on or produced_on + dt.timedelta(days=sku.product.shelf_life_days)
    if expires < produced_on:
        raise InvalidInput("到期日期不能早于生产日期", detail={"expires_on": str(expires)})
    existing = Batch.objects.filter(sku=sku, batch_no=batch_no).first()
    if existing is not None:
        if (existing.produced_on, existing.expires_on) != (produced_on, expires):
            raise InvalidInput("同一批次号的日期不一致", detail={"batch_no": batch_no})
        return existing
    return Batch.objects.create(
        sku=sku,
        batch_no=batch_no,
        produced_on=produced_on,
        expires_on=expires,
        origin_detail=origin_detail,
        inspection_note=inspection_note,
        created_at=clock.now(),
    )
