"""The fixed test catalogue the ingredient sample is labelled against, loaded through catalog's
services."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freshloop.catalog.models import Sku

FIXTURES = Path(__file__).parent / "fixtures"


def load_test_catalogue(*, stock: int = 0) -> dict[str, Sku]:
    from freshloop.catalog.models import StorageCondition
    from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert

    category = category_upsert(code="grocery", name="食材")
    rows = json.loads((FIXTURES / "test_catalogue.json").read_text(encoding="utf-8"))["skus"]
    skus = {}
    for row in rows:
        product = product_upsert(
            code=f"p-{row['code']}",
            name=row["product"],
            category=category,
            storage=StorageCondition.AMBIENT,
            shelf_life_days=180,
        )
        skus[row["code"]] = sku_upsert(
            product=product, code=row["code"], spec=row["spec"], price_fen=row["price_fen"]
        )
    if stock:
        from freshloop.core.audit import Actor
        from freshloop.inventory.services import stock_receive
        from tests.factories import make_warehouse

        warehouse = make_warehouse()
        for sku in skus.values():
            stock_receive(sku=sku, warehouse=warehouse, quantity=stock, actor=Actor.system("t"))
    return skus


@pytest.fixture
def test_catalogue(db: None) -> dict[str, Sku]:
    return load_test_catalogue()
