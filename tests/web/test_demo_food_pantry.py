"""The pantry demo seeds a shopper's pantry once, however often it runs."""

from __future__ import annotations

import pytest

from freshloop.food.models import PantryBarcode, PantryItem, PantryReminderRule
from freshloop.food.selectors import pantry_waste_stats
from freshloop.food.services import ean13_valid
from freshloop.web import demo_scrm
from freshloop.web.demo_food_pantry import demo_ean, seed_pantry
from tests.factories import make_person, make_sku

pytestmark = pytest.mark.django_db


def test_seed_is_idempotent_and_shows_a_counter() -> None:
    # given a catalog and the demo shopper
    make_sku(name="牧场鲜牛奶")
    shopper = make_person(phone=demo_scrm.LOOP_PHONE)
    # when the demo is seeded twice
    seed_pantry()
    counts = (PantryItem.objects.count(), PantryBarcode.objects.count())
    seed_pantry()
    # then nothing doubles, the barcodes are valid and the counter has something to show
    assert (PantryItem.objects.count(), PantryBarcode.objects.count()) == counts
    assert all(ean13_valid(code) for code in PantryBarcode.objects.values_list("ean", flat=True))
    assert ean13_valid(demo_ean(42))
    stats = pantry_waste_stats(person_id=shopper.pk)
    assert (stats.saved, stats.thrown) == (1, 1)
    assert PantryReminderRule.objects.count() == 3
