"""Recipe ingredients → shop SKUs, and recipe quantities → packs of a SKU.

A SKU sells the ingredient its product's name normalises to (`ingredients.ingredient_normalise`:
农家土鸡蛋 → 鸡蛋, 鸡蛋面 → 鸡蛋面). An ingredient line matches the shop's SKUs of the same
normalised ingredient; among several, the cheapest pack is offered.

Packs: the SKU's spec ("500g", "1.8L", "250ml×12", "10枚") gives its content. A quantity in grams
or millilitres is divided by it and rounded up (a millilitre of a sauce is taken as a gram: the
recipes measure both loosely); pieces ("2 个") are weighed by a per-ingredient piece weight when
the pack is sold by weight, counted when it is sold by pieces. A line with no quantity, or one
that cannot be converted, needs one pack.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from freshloop.catalog.models import Sku
from freshloop.content.ingredients import PIECE_UNITS, UNITS, amount_in_base, ingredient_normalise

SPEC = re.compile(
    r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>kg|g|ml|l|千克|公斤|克|斤|毫升|升|"
    + "|".join(PIECE_UNITS)
    + r")(?:\s*[×xX*]\s*(?P<times>\d+))?",
    re.IGNORECASE,
)
# grams of one piece, for pieces asked of an ingredient sold by weight
PIECE_GRAMS: dict[tuple[str, str], Decimal] = {
    ("鸡蛋", "个"): Decimal(50),
    ("番茄", "个"): Decimal(150),
    ("土豆", "个"): Decimal(200),
    ("洋葱", "个"): Decimal(200),
    ("青椒", "个"): Decimal(60),
    ("蒜", "瓣"): Decimal(5),
    ("蒜", "头"): Decimal(50),
    ("姜", "片"): Decimal(3),
    ("姜", "块"): Decimal(30),
    ("葱", "根"): Decimal(10),
    ("大葱", "根"): Decimal(200),
    ("大葱", "段"): Decimal(30),
    ("干辣椒", "个"): Decimal("0.5"),
    ("香菜", "根"): Decimal(5),
    ("生菜", "棵"): Decimal(200),
    ("香菇", "朵"): Decimal(20),
}
COUNTED_UNITS = {"个", "只", "枚", "颗"}  # interchangeable when counting eggs and the like


@dataclass(frozen=True)
class PackContent:
    dimension: str  # "g", "ml" or a piece unit
    amount: Decimal


def sku_pack_content(spec: str) -> PackContent | None:
    """What one pack of a SKU holds, read from its spec; None when the spec says no amount."""
    match = SPEC.search(spec or "")
    if not match:
        return None
    dimension, amount = amount_in_base(Decimal(match.group("num")), match.group("unit"))
    if match.group("times"):
        amount *= int(match.group("times"))
    return PackContent(dimension=dimension, amount=amount)


def _comparable(dimension: str) -> str:
    if dimension in {"g", "ml"}:
        return "mass"
    return "count" if dimension in COUNTED_UNITS else dimension


def packs_needed(
    *, ingredient: str, quantity: Decimal | None, unit: str, spec: str, servings: int = 1
) -> int:
    """Packs of a SKU (with `spec`) that cover `quantity` `unit` per serving × `servings`."""
    pack = sku_pack_content(spec)
    if quantity is None or quantity <= 0 or not unit or pack is None or pack.amount <= 0:
        return 1
    dimension, amount = amount_in_base(quantity * servings, unit)
    if _comparable(dimension) != _comparable(pack.dimension):
        grams = PIECE_GRAMS.get((ingredient, dimension))
        if grams is None or _comparable(pack.dimension) != "mass":
            return 1
        amount = amount * grams
    return max(1, math.ceil(amount / pack.amount))


def unit_known(unit: str) -> bool:
    return unit.lower() in UNITS or unit in PIECE_UNITS


class SkuIndex:
    """The shop's sellable SKUs by the ingredient they sell; built once per request or job."""

    def __init__(self, skus: Iterable[Sku]) -> None:
        self.by_ingredient: dict[str, Sku] = {}
        self.ingredient_by_sku: dict[int, str] = {}
        for sku in sorted(skus, key=lambda s: (s.price_fen, s.pk)):
            key = ingredient_normalise(sku.product.name)
            if key:
                self.by_ingredient.setdefault(key, sku)
                self.ingredient_by_sku[sku.pk] = key

    def sku_for(self, ingredient: str) -> Sku | None:
        return self.by_ingredient.get(ingredient) if ingredient else None


def sku_index_for_shop() -> SkuIndex:
    skus = Sku.objects.filter(
        is_active=True, product__is_active=True, product__sold_in_shop=True
    ).select_related("product")
    return SkuIndex(skus)
