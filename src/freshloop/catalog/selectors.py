"""Catalog reads for the shop, the live room and group buying (one catalog for every channel)."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Prefetch, QuerySet

from freshloop.catalog.models import Product, ProductImage, SalesChannel, Sku
from freshloop.core.errors import NotFound

CATALOG_FRAGMENTS = "catalog"
"""The version of cached shop fragments (core/fragments.py) that show catalog data: bumped on
every catalog write (catalog/apps.py), so a shop page shows an edit at once."""

# Regional product pools (SPEC FD-5) plug in here later: a rule answers whether a product may be
# sold to a buyer in a province. With no rule registered every product is sold everywhere.
RegionRule = Callable[[Product, str], bool]
_region_rules: list[RegionRule] = []


def register_region_rule(rule: RegionRule) -> None:
    _region_rules.append(rule)


def product_available_in_region(*, product: Product, province: str) -> bool:
    return all(rule(product, province) for rule in _region_rules)


_CHANNEL_FIELD = {
    SalesChannel.LIVE: "sold_in_live",
    SalesChannel.SHOP: "sold_in_shop",
    SalesChannel.GROUPBUY: "sold_in_groupbuy",
    SalesChannel.PARTNER: "sold_in_shop",
}


def sku_picture(sku: Sku) -> ProductImage | None:
    """The SKU's own first picture, else the product's first shared one.

    Reads `sku.product.images`: prefetch it (`…__product__images`) when listing.
    """
    pictures = sorted(
        sku.product.images.all(),
        key=lambda image: (
            image.sku_id != sku.pk,
            image.sku_id is not None,
            image.sort_order,
            image.pk,
        ),
    )
    return pictures[0] if pictures else None


def sku_picture_prefetched(sku: Sku) -> ProductImage | None:
    """`sku_picture` when the product's images were prefetched with the SKU, else None (no
    query): for answers built on objects other code loaded without them."""
    cache = getattr(sku.product, "_prefetched_objects_cache", {})
    return sku_picture(sku) if "images" in cache else None


def product_list_for_channel(
    *, channel: str, category_code: str | None = None, query: str = ""
) -> QuerySet[Product]:
    products = (
        Product.objects.filter(is_active=True, **{_CHANNEL_FIELD[SalesChannel(channel)]: True})
        .select_related("category")
        .prefetch_related(
            Prefetch("skus", queryset=Sku.objects.filter(is_active=True)),
            Prefetch("images", queryset=ProductImage.objects.order_by("sort_order", "id")),
        )
    )
    if category_code:
        products = products.filter(category__code=category_code)
    if query:
        products = products.filter(name__icontains=query)
    return products.order_by("category__sort_order", "id")


def product_get_for_channel(*, product_id: int, channel: str) -> Product:
    product = (
        product_list_for_channel(channel=channel)
        .prefetch_related("skus__batches")
        .filter(pk=product_id)
        .first()
    )
    if product is None:
        raise NotFound("商品不存在或已下架")
    return product


def sku_get_sellable(*, sku_id: int, channel: str) -> Sku:
    sku = Sku.objects.select_related("product").filter(pk=sku_id, is_active=True).first()
    if sku is None or not sku.product.is_active or not sku.product.sold_in(channel):
        raise NotFound("商品不存在或已下架", detail={"sku_id": sku_id})
    return sku
