"""Chinese names of the person traits the system itself writes (identity, the shop, the demo),
and of their known values: shared by the segment builder's menus and the profile page.
Traits nobody declared here show under their own name."""

from __future__ import annotations

# Traits that identify/commerce write (name → label, and labels of known values).
KNOWN_TRAITS: dict[str, tuple[str, dict[str, str]]] = {
    "gender": ("性别", {"female": "女", "male": "男"}),
    "birth_year": ("出生年份", {}),
    "province": ("省份", {}),
    "city": ("城市", {}),
    "nickname": ("昵称", {}),
    "member_level": ("会员等级", {}),
}


def trait_label(name: str) -> str:
    known = KNOWN_TRAITS.get(name)
    return known[0] if known else name


def trait_value_label(name: str, value: str) -> str:
    known = KNOWN_TRAITS.get(name)
    return known[1].get(value, value) if known else value
