"""Where provinces are and how long a parcel takes between them (SPEC FF-1).

Allocation needs a promise it can keep, per carrier: "from 上海 to 广东 by 顺丰冷运, 2 days".
Province centroids (the capital city, where most parcels of a province go, rather than the
geometric centre, which for 内蒙古 or 新疆 lies in empty land) and a great-circle distance give
a distance; a distance band gives the base days; each carrier's service speed adjusts it.

Distance bands (great-circle km between origin and destination centroids → base days):

    same province                  1 day
    below  400 km                  1 day
    400 –  900 km                  2 days
    900 – 1,600 km                 3 days
    1,600 – 2,500 km               4 days
    2,500 km and more              5 days

A carrier's days = max(1, round(base × speed_factor) + days_offset) — e.g. an air express
(factor 0.6) brings 3 days down to 2, an economy service (offset +1) adds a day. Remote
destinations (新疆, 西藏, 青海) keep the inventory module's extra days on top: roads there are
slower than their distance says.

Province names are compared in their short form (上海市 → 上海), as `inventory.transit` does.
"""

from __future__ import annotations

import math
from functools import lru_cache

from freshloop.inventory.selectors import REGIONS, REMOTE, REMOTE_EXTRA_DAYS, province_short

# (latitude, longitude) of each mainland province's capital.
PROVINCE_CENTROIDS: dict[str, tuple[float, float]] = {
    "北京": (39.904, 116.407),
    "天津": (39.084, 117.201),
    "河北": (38.042, 114.515),
    "山西": (37.870, 112.549),
    "内蒙古": (40.842, 111.749),
    "辽宁": (41.805, 123.431),
    "吉林": (43.817, 125.324),
    "黑龙江": (45.803, 126.535),
    "上海": (31.230, 121.474),
    "江苏": (32.060, 118.797),
    "浙江": (30.274, 120.155),
    "安徽": (31.821, 117.227),
    "福建": (26.075, 119.296),
    "江西": (28.682, 115.858),
    "山东": (36.651, 117.120),
    "河南": (34.747, 113.625),
    "湖北": (30.593, 114.305),
    "湖南": (28.228, 112.939),
    "广东": (23.129, 113.264),
    "广西": (22.817, 108.366),
    "海南": (20.044, 110.199),
    "重庆": (29.563, 106.551),
    "四川": (30.573, 104.066),
    "贵州": (26.647, 106.630),
    "云南": (25.038, 102.718),
    "西藏": (29.652, 91.172),
    "陕西": (34.342, 108.940),
    "甘肃": (36.061, 103.834),
    "青海": (36.617, 101.778),
    "宁夏": (38.487, 106.231),
    "新疆": (43.825, 87.617),
}

# Major cities that are not their province's capital but ship a lot (warehouses sit there).
CITY_CENTROIDS: dict[str, tuple[float, float]] = {
    "深圳": (22.543, 114.058),
    "苏州": (31.299, 120.585),
    "宁波": (29.868, 121.544),
    "青岛": (36.067, 120.383),
    "厦门": (24.480, 118.089),
    "大连": (38.914, 121.615),
    "东莞": (23.021, 113.752),
    "无锡": (31.491, 120.312),
    "嘉兴": (30.746, 120.755),
    "昆山": (31.385, 120.981),
}

# Population in millions (7th census, 2020): the bench spreads its orders by it.
PROVINCE_POPULATION: dict[str, float] = {
    "广东": 126.0, "山东": 101.5, "河南": 99.4, "江苏": 84.7, "四川": 83.7, "河北": 74.6,
    "湖南": 66.4, "浙江": 64.6, "安徽": 61.0, "湖北": 57.8, "广西": 50.1, "云南": 47.2,
    "江西": 45.2, "辽宁": 42.6, "福建": 41.5, "陕西": 39.5, "贵州": 38.6, "山西": 34.9,
    "重庆": 32.1, "黑龙江": 31.9, "新疆": 25.9, "甘肃": 25.0, "上海": 24.9, "内蒙古": 24.0,
    "吉林": 24.1, "北京": 21.9, "天津": 13.9, "海南": 10.1, "宁夏": 7.2, "青海": 5.9,
    "西藏": 3.6,
}  # fmt: skip

DISTANCE_BANDS_KM: tuple[tuple[float, int], ...] = (
    (400.0, 1),
    (900.0, 2),
    (1600.0, 3),
    (2500.0, 4),
)
FAR_DAYS = 5
EARTH_RADIUS_KM = 6371.0
_REGION_OF = {province: region for region, provinces in REGIONS.items() for province in provinces}


def region_of(province: str) -> str:
    """华东, 华南 … for a province name (long or short); "" when unknown."""
    return _REGION_OF.get(province_short(province), "")


def centroid(province: str, city: str = "") -> tuple[float, float] | None:
    """The city's coordinates when it is a known major city, else the province's."""
    if city:
        short_city = city.strip().removesuffix("市")
        if short_city in CITY_CENTROIDS:
            return CITY_CENTROIDS[short_city]
    return PROVINCE_CENTROIDS.get(province_short(province))


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@lru_cache(maxsize=4096)
def distance_km(origin: str, destination: str, origin_city: str = "") -> float:
    """Great-circle km between a warehouse (province, optional city) and a destination
    province; an unknown province counts as far (3,000 km) so it is never promised fast."""
    a = centroid(origin, origin_city)
    b = centroid(destination)
    if a is None or b is None:
        return 3000.0
    return great_circle_km(a, b)


def base_days(origin: str, destination: str, origin_city: str = "") -> int:
    """Days by the distance bands of the module docstring (same province: 1)."""
    if province_short(origin) == province_short(destination):
        return 1
    km = distance_km(origin, destination, origin_city)
    days = next((days for limit, days in DISTANCE_BANDS_KM if km < limit), FAR_DAYS)
    if province_short(destination) in REMOTE:
        days += REMOTE_EXTRA_DAYS
    return days


def carrier_days(base: int, *, speed_factor: float = 1.0, days_offset: int = 0) -> int:
    """One carrier's days for a base: its service speed applied, never below one day."""
    return max(1, round(base * speed_factor) + days_offset)


def zone_of(origin: str, destination: str) -> str:
    """The rate zone between two provinces: local (same province), regional (same region),
    national, or remote (新疆, 西藏, 青海 from elsewhere) — carriers price by it."""
    o, d = province_short(origin), province_short(destination)
    if o == d:
        return "local"
    if d in REMOTE:
        return "remote"
    if _REGION_OF.get(o) and _REGION_OF.get(o) == _REGION_OF.get(d):
        return "regional"
    return "national"
