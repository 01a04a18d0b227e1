"""Province centroids, distances, the distance bands and carrier speeds."""

from __future__ import annotations

import pytest

from freshloop.fulfillment import geo
from freshloop.inventory.selectors import REGIONS


class TestCentroids:
    def test_every_mainland_province_has_a_centroid_and_a_population(self) -> None:
        provinces = {p for members in REGIONS.values() for p in members}
        assert len(provinces) == 31
        assert provinces == set(geo.PROVINCE_CENTROIDS) == set(geo.PROVINCE_POPULATION)

    def test_long_names_and_major_cities_are_understood(self) -> None:
        assert geo.centroid("上海市") == geo.PROVINCE_CENTROIDS["上海"]
        assert geo.centroid("广东省", "深圳市") == geo.CITY_CENTROIDS["深圳"]
        assert geo.centroid("火星") is None


class TestDistance:
    def test_shanghai_to_beijing_is_about_1070_km(self) -> None:
        assert geo.distance_km("上海", "北京") == pytest.approx(1068, abs=15)

    def test_an_unknown_province_counts_as_far(self) -> None:
        assert geo.distance_km("上海", "火星") == 3000.0


class TestDays:
    @pytest.mark.parametrize(
        ("origin", "destination", "days"),
        [
            ("上海", "上海市", 1),  # same province
            ("上海", "浙江", 1),  # ~160 km
            ("上海", "安徽", 2),  # ~400 km
            ("上海", "北京", 3),  # ~1,070 km
            ("上海", "广东", 3),  # ~1,210 km
            ("广东", "黑龙江", 5),  # ~2,800 km
            ("北京", "新疆", 4 + 2),  # ~2,400 km, remote +2
        ],
    )
    def test_bands(self, origin: str, destination: str, days: int) -> None:
        assert geo.base_days(origin, destination) == days

    def test_a_carrier_speed_scales_and_offsets_but_never_below_one_day(self) -> None:
        assert geo.carrier_days(3, speed_factor=0.6) == 2
        assert geo.carrier_days(3, days_offset=1) == 4
        assert geo.carrier_days(1, speed_factor=0.1, days_offset=-3) == 1


class TestZones:
    def test_zones(self) -> None:
        assert geo.zone_of("上海", "上海市") == "local"
        assert geo.zone_of("上海", "浙江") == "regional"
        assert geo.zone_of("上海", "北京") == "national"
        assert geo.zone_of("上海", "西藏") == "remote"
