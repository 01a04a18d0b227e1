from __future__ import annotations

from freshloop.inventory.models import Warehouse


def warehouse_upsert(
    *,
    code: str,
    name: str,
    province: str,
    city: str,
    address: str = "",
    ambient: bool = True,
    chilled: bool = False,
    frozen: bool = False,
) -> Warehouse:
    warehouse, _ = Warehouse.objects.update_or_create(
        code=code,
        defaults={
            "name": name,
            "province": province,
            "city": city,
            "address": address,
            "supports_ambient": ambient,
            "supports_chilled": chilled,
            "supports_frozen": frozen,
        },
    )
    return warehouse
