"""Catalog writes. `*_upsert` are keyed by code so imports and the demo seed can re-run safely."""

from __future__ import annotations

from django.db import transaction

from freshloop.catalog.models import Category, Product, Sku, StorageCondition
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
) -> Product:
    if shelf_life_days <= 0:
        raise InvalidInput("保质期必须大于 0 天", detail={"shelf_life_days": shelf_life_days})
    product, _ = Product.objects.update_or_create(
        code=code,
        defaults={
            "name": name,
            "category": category,
            "storage": storage,
            "shelf_life_days": shelf_life_days,
            "origin": origin,
            "description": description,
        },
        create_defaults={
            "name": name,
            "category": category,
            "storage": storage,
            "shelf_life_days": shelf_life_days,
            "origin": origin,
            "description": description,
            "created_at": clock.now(),
        },
    )
    return product


def sku_upsert(*, product: Product, code: str, spec: str, price_fen: int) -> Sku:
    if price_fen <= 0:
        raise InvalidInput("售价必须大于 0", detail={"price_fen": price_fen})
    sku, _ = Sku.objects.update_or_create(
        code=code, defaults={"product": product, "spec": spec, "price_fen": price_fen}
    )
    return sku
