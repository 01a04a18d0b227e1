"""How many days a parcel takes from a warehouse's province to a destination province — a
simple table until the fulfillment module's allocation (SPEC FF-1) promises dates per carrier.

Same province 1 day, same region 2, elsewhere 3; the far west (新疆, 西藏, 青海) 2 more.
Regions are the usual seven of Chinese logistics. Province names are compared without their
suffix (上海市 = 上海, 广西壮族自治区 = 广西)."""

from __future__ import annotations

REGIONS: dict[str, tuple[str, ...]] = {
    "华东": ("上海", "江苏", "浙江", "安徽", "福建", "江西", "山东"),
    "华南": ("广东", "广西", "海南"),
    "华北": ("北京", "天津", "河北", "山西", "内蒙古"),
    "华中": ("河南", "湖北", "湖南"),
    "西南": ("重庆", "四川", "贵州", "云南", "西藏"),
    "西北": ("陕西", "甘肃", "青海", "宁夏", "新疆"),
    "东北": ("辽宁", "吉林", "黑龙江"),
}
REMOTE = frozenset({"新疆", "西藏", "青海"})
REMOTE_EXTRA_DAYS = 2
_REGION_OF = {province: region for region, provinces in REGIONS.items() for province in provinces}
_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")


def province_short(name: str) -> str:
    """上海市 → 上海, 广西壮族自治区 → 广西; unknown names come back stripped."""
    name = name.strip()
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def transit_days(origin: str, destination: str) -> int:
    """Days on the road from a warehouse in `origin` to an address in `destination`."""
    origin, destination = province_short(origin), province_short(destination)
    if origin == destination:
        days = 1
    elif _REGION_OF.get(origin) is not None and _REGION_OF.get(origin) == _REGION_OF.get(
        destination
    ):
        days = 2
    else:
        days = 3
    if destination in REMOTE and origin != destination:
        days += REMOTE_EXTRA_DAYS
    return days
