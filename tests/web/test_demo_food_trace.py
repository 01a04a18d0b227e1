"""The demo's traceability (web/demo_food_trace.py): the newest 牧场鲜牛奶 lots are published
from one pasture, the newest with a 2:1 panorama and two versions; a re-run adds nothing."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.test import Client
from PIL import Image

from freshloop.catalog.models import StorageCondition
from freshloop.catalog.services import batch_register, category_upsert, product_upsert, sku_upsert
from freshloop.core import clock
from freshloop.food.models import TraceMedia, TraceVersion
from freshloop.food.selectors import lot_token
from freshloop.web.demo_food_trace import pasture_panorama, seed_food_trace

pytestmark = pytest.mark.django_db


def _milk_lots(count: int) -> list[int]:
    category = category_upsert(code="fresh-milk", name="鲜牛奶")
    product = product_upsert(
        code="milk-pasture",
        name="牧场鲜牛奶",
        category=category,
        storage=StorageCondition.CHILLED,
        shelf_life_days=7,
        channels=("shop",),
    )
    sku = sku_upsert(product=product, code="milk-pasture-950", spec="950ml", price_fen=1590)
    today = clock.to_shanghai(clock.now()).date()
    return [
        batch_register(sku=sku, batch_no=f"D{n}", produced_on=today - dt.timedelta(days=n)).pk
        for n in range(count)
    ]


class TestPasturePanorama:
    def test_is_an_equirectangular_jpeg_with_a_seamless_edge(self) -> None:
        with Image.open(io.BytesIO(pasture_panorama(1024))) as image:
            assert (image.format, image.size) == ("JPEG", (1024, 512))
            left = image.crop((0, 0, 1, 512)).convert("L")
            right = image.crop((1023, 0, 1024, 512)).convert("L")
            # the hills and grass continue across the seam: the edge columns nearly agree
            differences = [abs(a - b) for a, b in zip(left.getdata(), right.getdata(), strict=True)]
            assert sum(differences) / len(differences) < 25


class TestSeedFoodTrace:
    def test_publishes_the_newest_lots_once(self) -> None:
        newest, *others = _milk_lots(4)
        result = seed_food_trace()
        assert result["lots"] == 3
        assert TraceVersion.objects.filter(profile__batch_id=newest).count() == 2
        assert TraceMedia.objects.filter(profile__batch_id=newest, kind="panorama").count() == 1
        assert not TraceVersion.objects.filter(profile__batch_id=others[-1]).exists()
        page = Client().get(f"/trace/{lot_token(newest)}")
        assert page.status_code == 200
        assert "锡林郭勒一号牧场" in page.content.decode()
        # a second run finds every lot published and adds nothing
        assert seed_food_trace()["lots"] == 0
        assert TraceVersion.objects.count() == 4
