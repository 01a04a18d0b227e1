from __future__ import annotations

from django import template

from freshloop.core.money import format_fen
from freshloop.promotions.selectors import coupon_value_text

register = template.Library()


@register.filter(name="fen")
def fen_filter(value: int | None) -> str:
    """{{ sku.price_fen|fen }} -> ¥12.80"""
    if value is None:
        return ""
    return format_fen(int(value))


@register.filter(name="coupon_value")
def coupon_value(template_obj: object) -> str:
    """What a coupon template gives, as printed on the coupon: ¥10 / 8.8折 / 满99减20 / 免运费."""
    return coupon_value_text(template_obj)
