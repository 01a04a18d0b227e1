"""Recipes part of the demo brand (FD-4, BM-6): the HowToCook recipes imported from
node_modules and a few tagged materials in the content library.

The recipes match the demo catalogue's SKUs (牛奶, 鸡蛋, and the groceries of `demo_data.PRODUCTS`:
西红柿, 土豆, 五花肉 …) through the content services. Idempotent: recipes by their data-set id,
materials by title.
"""

from __future__ import annotations

from freshloop.content.errors import RecipeImportFailed
from freshloop.content.models import ContentItem
from freshloop.content.services import content_item_create, recipes_import_howtocook
from freshloop.core.audit import Actor

SEED_ACTOR = Actor.system("demo_seed")
MATERIALS = (
    (
        "copy",
        "番茄炒蛋一键加购话术",
        "家里缺啥点一下：菜谱页「一键加购」只加缺的食材。",
        ["菜谱", "直播话术"],
    ),
    ("copy", "冬至饺子文案", "冬至到，饺子香：猪肉大葱、韭菜鸡蛋，今晚包起来。", ["冬至", "节气"]),
    ("video", "牧场直播回放", "", ["牧场", "溯源"]),
)


def seed_recipes() -> dict[str, int]:
    try:
        imported = recipes_import_howtocook()
        recipes = imported.created
    except RecipeImportFailed:  # node_modules missing: the rest of the demo still works
        recipes = -1
    materials = 0
    for kind, title, body, tags in MATERIALS:
        if ContentItem.objects.filter(title=title).exists():
            continue
        content_item_create(
            kind=kind,
            title=title,
            body=body,
            tags=tags,
            video_url="https://example.com/demo/pasture.m3u8" if kind == "video" else "",
            actor=SEED_ACTOR,
        )
        materials += 1
    return {"recipes": recipes, "materials": materials}
