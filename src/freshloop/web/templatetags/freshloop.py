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
