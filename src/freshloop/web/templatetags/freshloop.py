from __future__ import annotations

import json

from django import template

from freshloop.catalog.models import ProductImage, Sku
from freshloop.catalog.selectors import sku_picture_prefetched
from freshloop.core.money import format_fen
from freshloop.promotions.selectors import coupon_value_text

register = template.Library()


@register.filter(name="fen")
def fen_filter(value: int | None) -> str:
    """{{ sku.price_fen|fen }} -> ¥12.80"""
    if value is None:
        return ""
    return format_fen(int(value))


@register.filter(name="as_json")
def as_json_filter(value: object) -> str:
    """{{ lines|as_json }} inside an attribute (an Alpine x-data): JSON text, left to
    autoescaping, so the browser hands the script the JSON back and no quote ends the attribute."""
    return json.dumps(value, ensure_ascii=False)


@register.filter(name="coupon_value")
def coupon_value(template_obj: object) -> str:
    """What a coupon template gives, as printed on the coupon: ¥10 / 8.8折 / 满99减20 / 免运费."""
    return coupon_value_text(template_obj)


@register.filter(name="sku_picture")
def sku_picture_filter(sku: Sku) -> ProductImage | None:
    """{% with picture=line.sku|sku_picture %}: the SKU's picture when its product's images
    were prefetched with it (cart and order selectors do), else None — never a query per line."""
    return sku_picture_prefetched(sku)
