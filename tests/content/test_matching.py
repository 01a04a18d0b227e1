"""Ingredient lines → normalised ingredients → SKUs, measured on 200 hand-labelled lines."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from freshloop.catalog.models import Sku
from freshloop.content.ingredients import ingredient_line_parse, ingredient_normalise
from freshloop.content.selectors import packs_needed, sku_index_for_shop, sku_pack_content
from tests.content.conftest import FIXTURES

PRECISION_FLOOR = 0.9
RECALL_FLOOR = 0.8


def _sample() -> list[dict[str, str | None]]:
    data = json.loads((FIXTURES / "ingredient_sample.json").read_text(encoding="utf-8"))
    return list(data["lines"])


class TestSampleIsWhatItClaims:
    def test_two_hundred_lines_drawn_from_the_shipped_recipes(self) -> None:
        from freshloop.content.recipes import howtocook_path

        recipes = {r["id"]: r for r in json.loads(howtocook_path().read_text(encoding="utf-8"))}
        sample = _sample()
        assert len(sample) == 200
        for line in sample:
            ingredients = recipes[line["recipe"]]["ingredients"]
            assert ingredients[int(line["line"])]["text_quantity"] == line["text"]


@pytest.mark.django_db
class TestMatchingOnTheLabelledSample:
    def test_precision_and_recall(self, test_catalogue: dict[str, Sku]) -> None:
        # given the fixed test catalogue and 200 lines labelled by hand
        index = sku_index_for_shop()
        true_pos = false_pos = false_neg = 0
        misses = []
        # when every line is parsed and matched
        for line in _sample():
            parsed = ingredient_line_parse(str(line["text"]))
            sku = index.sku_for(parsed.ingredient)
            got = sku.code if sku else None
            expected = line["sku"]
            if got == expected:
                true_pos += got is not None
                continue
            if got is not None:
                false_pos += 1
            if expected is not None:
                false_neg += 1
            misses.append((line["text"], expected, got))
        precision = true_pos / (true_pos + false_pos)
        recall = true_pos / (true_pos + false_neg)
        print(
            f"\nmatching: precision={precision:.3f} recall={recall:.3f} "
            f"tp={true_pos} fp={false_pos} fn={false_neg} misses={misses}"
        )
        # then the floors hold
        assert precision >= PRECISION_FLOOR, misses
        assert recall >= RECALL_FLOOR, misses

    def test_normalised_ingredient_of_labelled_lines(self) -> None:
        # the normalised name is right on (almost) every line a SKU was labelled for
        labelled = [line for line in _sample() if line["sku"]]
        right = sum(
            ingredient_line_parse(str(line["text"])).ingredient == line["ingredient"]
            for line in labelled
        )
        assert right / len(labelled) >= 0.95


class TestNormalise:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("西红柿", "番茄"),
            ("蛋", "鸡蛋"),
            ("农家土鸡蛋", "鸡蛋"),
            ("姜片", "姜"),
            ("黑猪五花肉", "五花肉"),
            ("红烧老抽王", "老抽"),  # jieba cuts off the trailing 王
            ("鸡蛋面", "鸡蛋面"),  # noodles, not eggs
            ("番茄酱", "番茄酱"),
            ("姜粉", "姜粉"),
            ("手枪腿", ""),
            ("", ""),
        ],
    )
    def test_names(self, name: str, expected: str) -> None:
        assert ingredient_normalise(name) == expected


class TestLineParse:
    @pytest.mark.parametrize(
        ("text", "name", "quantity", "unit"),
        [
            ("- 生抽 15ml", "生抽", Decimal(15), "ml"),
            ("- 青辣椒 = 份数 * 0.5 个", "青辣椒", Decimal("0.5"), "个"),
            ("- 姜： 6 片", "姜", Decimal(6), "片"),
            ("- 干辣椒两个", "干辣椒", Decimal(2), "个"),
            ("- 牛排 450-500g（两片牛排）", "牛排", Decimal(500), "g"),
            ("- 肉 2 斤", "肉", Decimal(2), "斤"),
            ("- 姜量 = 蒜量", "姜", None, ""),
            ("- 鸡蛋", "鸡蛋", None, ""),
        ],
    )
    def test_lines(self, text: str, name: str, quantity: Decimal | None, unit: str) -> None:
        parsed = ingredient_line_parse(text)
        assert (parsed.name, parsed.quantity, parsed.unit) == (name, quantity, unit)


class TestPacks:
    @pytest.mark.parametrize(
        ("ingredient", "quantity", "unit", "spec", "servings", "packs"),
        [
            ("土豆", Decimal(200), "g", "1kg", 1, 1),
            ("土豆", Decimal(600), "g", "1kg", 2, 2),  # 1200 g → 2 packs of 1 kg
            ("肉", Decimal(2), "斤", "500g", 1, 2),  # 2 斤 = 1000 g
            ("生抽", Decimal(15), "ml", "500ml", 1, 1),
            ("牛奶", Decimal(4), "l", "250ml×12", 1, 2),  # 4000 ml / 3000 ml
            ("鸡蛋", Decimal(12), "个", "10枚", 1, 2),  # counted
            ("番茄", Decimal(4), "个", "500g", 1, 2),  # 4 × 150 g
            ("生抽", Decimal(2), "勺", "500ml", 1, 1),
            ("香叶", Decimal(2), "片", "50g", 1, 1),  # no piece weight: one pack
            ("盐", None, "", "400g", 1, 1),
        ],
    )
    def test_packs(
        self,
        ingredient: str,
        quantity: Decimal | None,
        unit: str,
        spec: str,
        servings: int,
        packs: int,
    ) -> None:
        got = packs_needed(
            ingredient=ingredient, quantity=quantity, unit=unit, spec=spec, servings=servings
        )
        assert got == packs

    def test_spec_without_amount(self) -> None:
        assert sku_pack_content("大份") is None
        assert packs_needed(ingredient="盐", quantity=Decimal(5), unit="g", spec="大份") == 1
