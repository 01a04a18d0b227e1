from __future__ import annotations

from django import template

from freshloop.core.money import format_fen

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
    kind = getattr(template_obj, "kind", "")
    off = int(getattr(template_obj, "amount_off_fen", 0) or 0)
    if kind == "fixed":
        return format_fen(off)
    if kind == "threshold":
        threshold = int(getattr(template_obj, "threshold_fen", 0) or 0)
        return (
            f"满{threshold // 100}减{off // 100}"
            if off % 100 == 0
            else f"满{threshold // 100}减{off / 100:.2f}"
        )
    if kind == "percent":
        bp = int(getattr(template_obj, "percent_off_bp", 0) or 0)
        return f"{(10000 - bp) / 1000:g}折"
    if kind == "free_shipping":
        return "免运费"
    return ""
