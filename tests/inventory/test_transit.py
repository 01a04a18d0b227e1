"""The transit table behind the delivery estimate (until fulfillment's allocation replaces it)."""

from __future__ import annotations

import pytest

from freshloop.inventory.transit import province_short, transit_days


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("上海市", "上海"),
        ("广西壮族自治区", "广西"),
        ("新疆维吾尔自治区", "新疆"),
        ("浙江省", "浙江"),
        ("上海", "上海"),
    ],
)
def test_province_names_compare_without_their_suffix(name: str, short: str) -> None:
    assert province_short(name) == short


@pytest.mark.parametrize(
    ("origin", "destination", "days"),
    [
        ("上海", "上海市", 1),  # same province
        ("上海", "浙江", 2),  # same region (华东)
        ("上海", "广东", 3),  # another region
        ("上海", "新疆", 5),  # the far west takes two days more
        ("新疆", "新疆", 1),  # ... but not inside it
        ("北京", "火星", 3),  # an unknown province is "elsewhere"
    ],
)
def test_days_grow_with_distance(origin: str, destination: str, days: int) -> None:
    assert transit_days(origin, destination) == days
