"""Catalog writes: food attributes, channels, production lots."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.catalog.selectors import product_list_for_channel, sku_get_sellable
from freshloop.catalog.services import batch_register, category_upsert, product_upsert
from freshloop.core.errors import InvalidInput, NotFound
from tests.factories import make_sku

pytestmark = pytest.mark.django_db


class TestProductUpsert:
    def test_food_attributes_and_channels_are_kept(self) -> None:
        product = product_upsert(
            code="eggs",
            name="散养土鸡蛋",
            category=category_upsert(code="eggs", name="鲜鸡蛋"),
            storage="chilled",  # type: ignore[arg-type]
            shelf_life_days=30,
            origin="湖北恩施",
            certifications=["绿色食品"],
            allergens=["蛋"],
            channels=("live", "groupbuy"),
        )
        assert (product.certifications, product.allergens) == (["绿色食品"], ["蛋"])
        assert product.sold_in("live")
        assert product.sold_in("groupbuy")
        assert not product.sold_in("shop")
        assert list(product_list_for_channel(channel="shop")) == []

    def test_unknown_channel_refused(self) -> None:
        with pytest.raises(InvalidInput):
            product_upsert(
                code="x",
                name="x",
                category=category_upsert(code="c", name="c"),
                storage="ambient",  # type: ignore[arg-type]
                shelf_life_days=1,
                channels=("tv",),
            )


class TestSkuGetSellable:
    def test_inactive_or_other_channel_is_not_found(self) -> None:
        sku = make_sku(channels=("live",))
        assert sku_get_sellable(sku_id=sku.pk, channel="live") == sku
        with pytest.raises(NotFound):
            sku_get_sellable(sku_id=sku.pk, channel="shop")


class TestBatchRegister:
    def test_expiry_defaults_to_shelf_life_and_registering_again_is_harmless(self) -> None:
        sku = make_sku()  # 7-day shelf life
        lot = batch_register(sku=sku, batch_no="B-1", produced_on=dt.date(2026, 11, 20))
        assert lot.expires_on == dt.date(2026, 11, 27)
        assert batch_register(sku=sku, batch_no="B-1", produced_on=dt.date(2026, 11, 20)) == lot

    def test_same_number_with_other_dates_refused(self) -> None:
        sku = make_sku()
        batch_register(sku=sku, batch_no="B-1", produced_on=dt.date(2026, 11, 20))
        with pytest.raises(InvalidInput):
            batch_register(sku=sku, batch_no="B-1", produced_on=dt.date(2026, 11, 21))

    @pytest.mark.parametrize("batch_no", ["", "  ", "x" * 65])
    def test_bad_numbers_refused(self, batch_no: str) -> None:
        with pytest.raises(InvalidInput):
            batch_register(sku=make_sku(), batch_no=batch_no, produced_on=dt.date(2026, 11, 20))

    def test_expiry_before_production_refused(self) -> None:
        with pytest.raises(InvalidInput):
            batch_register(
                sku=make_sku(),
                batch_no="B",
                produced_on=dt.date(2026, 11, 20),
                expires_on=dt.date(2026, 11, 1),
            )
