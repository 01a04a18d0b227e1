"""Recipes: importing the howtocook data set, operators' own recipes, and a recipe's shopping list.

The data set is the JSON file the npm package `howtocook-mcp` ships (node_modules after
`npm ci`); only the file is read — the package's code fetches from the web and is never run.
A recipe is keyed by (`source`, `source_key` = the data set's id), so importing again updates
what changed and adds nothing twice. Its ingredient lines are kept as written and parsed
(`ingredients.ingredient_line_parse`) at write time; matching to SKUs happens at read time
against the shop as it is then (`matching.SkuIndex`), so new products are found without a
re-import.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from freshloop.catalog.models import Sku
from freshloop.content.errors import RecipeImportFailed, RecipeInvalid, RecipeNotFound
from freshloop.content.ingredients import ingredient_line_parse
from freshloop.content.matching import SkuIndex, packs_needed, sku_index_for_shop
from freshloop.content.models import ContentItem, ContentKind, ContentTag, Recipe, RecipeIngredient
from freshloop.core import clock
from freshloop.core.audit import Actor

HOWTOCOOK = "howtocook"
OPERATOR = "operator"
MAX_LINES = 60
MAX_STEPS = 50


def howtocook_path() -> Path:
    return Path(settings.BASE_DIR) / "node_modules" / "howtocook-mcp" / "all_recipes.json"


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _ingredient_rows(lines: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for position, text in enumerate(lines):
        parsed = ingredient_line_parse(text)
        rows.append(
            {
                "position": position,
                "text": text[:300],
                "name": parsed.name[:100],
                "ingredient": parsed.ingredient[:32],
                "quantity": parsed.quantity,
                "unit": parsed.unit if parsed.quantity is not None else "",
            }
        )
    return rows


MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")


def plain_description(markdown: str) -> str:
    """The data set's description is Markdown that repeats the title as a heading and embeds
    pictures by relative path (which this import does not carry): keep the prose only."""
    prose = [
        line.strip()
        for line in MARKDOWN_IMAGE.sub("", markdown).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return "\n".join(prose)


def _recipe_fields(item: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The recipe's columns and ingredient lines from one record of the data set."""
    if not isinstance(item, dict) or not item.get("id") or not item.get("name"):
        raise RecipeImportFailed("菜谱记录缺少 id 或名称", detail={"record": str(item)[:100]})
    name = str(item["name"]).removesuffix("的做法")[:100]
    steps = [str(step.get("description", "")) for step in item.get("steps") or []]
    lines = [
        str(i.get("text_quantity") or i.get("name") or "")
        for i in item.get("ingredients") or []
        if isinstance(i, dict)
    ]
    fields = {
        "name": name,
        "category": str(item.get("category") or "")[:32],
        "difficulty": min(5, max(1, int(item.get("difficulty") or 1))),
        "servings": min(20, max(1, int(item.get("servings") or 1))),
        "description": plain_description(str(item.get("description") or "")),
        "steps": steps[:MAX_STEPS],
        "total_minutes": item.get("total_time_minutes") or None,
    }
    return fields, [line for line in lines if line.strip()][:MAX_LINES]


def _tags(names: Sequence[str]) -> list[ContentTag]:
    return [ContentTag.objects.get_or_create(name=n[:32])[0] for n in dict.fromkeys(names) if n]


def _library_entry(recipe: Recipe) -> None:
    """Every recipe is also a material of the content library (kind 菜谱), tagged by category."""
    item, _ = ContentItem.objects.update_or_create(
        recipe=recipe,
        defaults={
            "kind": ContentKind.RECIPE,
            "title": recipe.name,
            "body": recipe.description[:2000],
            "created_at": recipe.created_at,
        },
    )
    item.tags.set(_tags(["菜谱", recipe.category]))


def _save(source: str, key: str, fields: dict[str, Any], lines: list[str]) -> str:
    """Create or update one recipe; returns "created", "updated" or "unchanged"."""
    now = clock.now()
    rows = _ingredient_rows(lines)
    recipe = Recipe.objects.filter(source=source, source_key=key).first()
    if recipe is None:
        recipe = Recipe.objects.create(
            source=source, source_key=key, created_at=now, updated_at=now, **fields
        )
        outcome = "created"
    else:
        same = all(getattr(recipe, k) == v for k, v in fields.items()) and [
            r.text for r in recipe.ingredients.all()
        ] == [r["text"] for r in rows]
        if same:
            return "unchanged"
        for k, v in fields.items():
            setattr(recipe, k, v)
        recipe.updated_at = now
        recipe.save()
        recipe.ingredients.all().delete()
        outcome = "updated"
    RecipeIngredient.objects.bulk_create(RecipeIngredient(recipe=recipe, **r) for r in rows)
    _library_entry(recipe)
    return outcome


def recipes_import_howtocook(*, path: Path | None = None) -> ImportResult:
    """Import (or re-import) the howtocook data set; one transaction, so a bad file changes
    nothing."""
    source = path or howtocook_path()
    try:
        records = json.loads(Path(source).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise RecipeImportFailed(
            "找不到菜谱数据文件（请先运行 npm ci）", detail={"path": str(source)}
        ) from error
    except (OSError, ValueError) as error:
        raise RecipeImportFailed(detail={"path": str(source), "error": str(error)[:200]}) from error
    if not isinstance(records, list):
        raise RecipeImportFailed("菜谱数据文件应是一个列表", detail={"path": str(source)})
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        for item in records:
            fields, lines = _recipe_fields(item)
            counts[_save(HOWTOCOOK, str(item["id"])[:200], fields, lines)] += 1
    return ImportResult(**counts)


def recipe_create(
    *,
    name: str,
    ingredient_lines: Sequence[str],
    steps: Sequence[str] = (),
    category: str = "",
    servings: int = 1,
    description: str = "",
    actor: Actor,
) -> Recipe:
    """An operator's own recipe."""
    problems = []
    name = (name or "").strip()
    lines = [line.strip() for line in ingredient_lines if line and line.strip()]
    if not name or len(name) > 100:
        problems.append(("name", "请填写菜名（不超过 100 字）"))
    if not lines or len(lines) > MAX_LINES or any(len(line) > 300 for line in lines):
        problems.append(("ingredient_lines", f"请填写 1–{MAX_LINES} 行食材，每行不超过 300 字"))
    if len(steps) > MAX_STEPS:
        problems.append(("steps", f"步骤不超过 {MAX_STEPS} 步"))
    if not 1 <= servings <= 20:
        problems.append(("servings", "份数应在 1–20 之间"))
    if len(category) > 32:
        problems.append(("category", "分类不超过 32 字"))
    if problems:
        raise RecipeInvalid.for_fields(problems)
    fields = {
        "name": name,
        "category": category.strip(),
        "difficulty": 1,
        "servings": servings,
        "description": description,
        "steps": [s.strip() for s in steps if s.strip()],
        "total_minutes": None,
    }
    key = f"{actor.type}:{actor.id}:{uuid.uuid4().hex}"
    with transaction.atomic():
        _save(OPERATOR, key, fields, lines)
    return Recipe.objects.get(source=OPERATOR, source_key=key)


# --- reads -----------------------------------------------------------------------------------


def recipe_list(*, category: str = "", query: str = "", ingredient: str = "") -> list[Recipe]:
    recipes = Recipe.objects.filter(is_published=True)
    if category:
        recipes = recipes.filter(category=category)
    if query:
        recipes = recipes.filter(name__icontains=query)
    if ingredient:
        recipes = recipes.filter(ingredients__ingredient=ingredient).distinct()
    return list(recipes.order_by("id"))


def recipe_get(*, recipe_id: int) -> Recipe:
    recipe = Recipe.objects.filter(pk=recipe_id, is_published=True).first()
    if recipe is None:
        raise RecipeNotFound()
    return recipe


def recipe_categories() -> list[str]:
    return sorted(
        set(Recipe.objects.filter(is_published=True).values_list("category", flat=True)) - {""}
    )


@dataclass(frozen=True)
class ShoppingLine:
    """One ingredient of a recipe for shopping: its lines merged (the data set names an
    ingredient once in the list and again with its amount), the SKU selling it and the packs."""

    ingredient: str
    label: str
    texts: tuple[str, ...]
    sku: Sku | None
    packs: int


def recipe_shopping_list(
    *, recipe: Recipe, servings: int | None = None, index: SkuIndex | None = None
) -> list[ShoppingLine]:
    """The recipe's ingredients with a SKU and packs for `servings` (default: the recipe's)."""
    index = index or sku_index_for_shop()
    portions = servings or recipe.servings
    groups: dict[str, list[RecipeIngredient]] = {}
    for line in recipe.ingredients.all():
        groups.setdefault(line.ingredient or f"?{line.position}", []).append(line)
    result = []
    for key, lines in groups.items():
        ingredient = lines[0].ingredient
        sku = index.sku_for(ingredient)
        packs = 0
        if sku is not None:
            # the data set lists some ingredients twice (name, then amount): amounts add up
            # across the lines that give one; a line without one asks for a pack at least
            measured = [line for line in lines if line.quantity is not None]
            scale = Decimal(portions) / Decimal(recipe.servings)
            packs = max(1, _packs_summed(ingredient, measured, scale, sku.spec))
        result.append(
            ShoppingLine(
                ingredient=ingredient,
                label=ingredient or lines[0].name or key,
                texts=tuple(line.text for line in lines),
                sku=sku,
                packs=packs,
            )
        )
    return result


def _packs_summed(ingredient: str, lines: list[RecipeIngredient], scale: Decimal, spec: str) -> int:
    """Packs for several measured lines: amounts in one unit are added before rounding up
    (3 g + 2 g of salt is one pack, not two)."""
    by_unit: dict[str, Decimal] = {}
    for line in lines:
        by_unit[line.unit] = by_unit.get(line.unit, Decimal(0)) + Decimal(line.quantity or 0)
    return sum(
        packs_needed(
            ingredient=ingredient,
            quantity=amount * scale,
            unit=unit,
            spec=spec,
        )
        for unit, amount in by_unit.items()
    )
