"""Catalog writes. `*_upsert` are keyed by code so imports and the demo seed can re-run safely."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import IO

from django.db import transaction
from django.db.models import Max

from freshloop.catalog.models import Batch, Category, Product, ProductImage, Sku, StorageCondition
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput
from freshloop.core.images import StoredImage, image_delete, image_store


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


def product_image_add(
    *,
    product: Product,
    file: IO[bytes] | bytes,
    actor: Actor,
    sku: Sku | None = None,
    alt: str = "",
    sort_order: int | None = None,
) -> ProductImage:
    """Check an uploaded picture (real JPEG/PNG/WebP, ≤ 10 MB, ≤ 6000 px a side), turn it
    upright, strip EXIF, make the 400/1080 px WebP and 1080 px JPEG, and attach it to the product
    (after its last picture unless `sort_order` is given). Refusals are `ImageRejected`."""
    if sku is not None and sku.product_id != product.pk:
        raise InvalidInput("SKU 不属于这个商品", detail={"sku_id": sku.pk})
    alt = alt.strip()
    if len(alt) > 120:
        raise InvalidInput("图片说明不能超过 120 个字符", detail={"alt": alt[:20]})
    stored = image_store(file=file, folder=f"catalog/{product.pk}")
    try:
        with transaction.atomic():
            if sort_order is None:
                last = product.images.aggregate(last=Max("sort_order"))["last"]
                sort_order = 0 if last is None else last + 1
            image = ProductImage.objects.create(
                product=product,
                sku=sku,
                alt=alt,
                sort_order=sort_order,
                original=stored.original,
                webp_400=stored.webp_400,
                webp_1080=stored.webp_1080,
                jpeg_1080=stored.jpeg_1080,
                width=stored.width,
                height=stored.height,
                created_at=clock.now(),
            )
            audit_record(
                actor=actor,
                action="catalog.product_image_add",
                target=image,
                after={"product": product.code, "sku": sku.code if sku else "", "alt": alt},
            )
    except Exception:
        image_delete(stored)
        raise
    return image


def product_image_update(
    *, image: ProductImage, actor: Actor, alt: str, sort_order: int, sku: Sku | None = None
) -> ProductImage:
    """Change a picture's caption, place or SKU (the file itself is replaced by a new upload)."""
    alt = alt.strip()
    if len(alt) > 120:
        raise InvalidInput("图片说明不能超过 120 个字符", detail={"alt": alt[:20]})
    if sku is not None and sku.product_id != image.product_id:
        raise InvalidInput("SKU 不属于这个商品", detail={"sku_id": sku.pk})
    stored = ProductImage.objects.filter(pk=image.pk).values("alt", "sort_order", "sku_id").get()
    before = {"alt": stored["alt"], "sort_order": stored["sort_order"], "sku": stored["sku_id"]}
    image.alt, image.sort_order, image.sku = alt, sort_order, sku
    image.save(update_fields=["alt", "sort_order", "sku"])  # the signal refreshes shop pages
    audit_record(
        actor=actor,
        action="catalog.product_image_update",
        target=image,
        before=before,
        after={"alt": alt, "sort_order": sort_order, "sku": image.sku_id},
    )
    return image


def product_image_delete(*, image: ProductImage, actor: Actor) -> None:
    """Remove a picture and its files."""
    stored = StoredImage(
        original=image.original.name,
        webp_400=image.webp_400.name,
        webp_1080=image.webp_1080.name,
        jpeg_1080=image.jpeg_1080.name,
        width=image.width,
        height=image.height,
    )
    audit_record(
        actor=actor,
        action="catalog.product_image_delete",
        target=image,
        before={"product": image.product_id, "alt": image.alt},
    )
    image.delete()
    transaction.on_commit(lambda: image_delete(stored))
