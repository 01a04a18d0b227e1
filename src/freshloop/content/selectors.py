"""The reads of Content library (SPEC BM-6): the module's public face, re-exported from the feature files (one
block per feature)."""

from __future__ import annotations

# --- recipes and the content library (FD-4, BM-6) ---
from freshloop.content.ingredients import ingredient_normalise  # noqa: F401
from freshloop.content.library import content_item_get, content_items_list, content_tags  # noqa: F401
from freshloop.content.matching import (  # noqa: F401
    SkuIndex,
    packs_needed,
    sku_index_for_shop,
    sku_pack_content,
)
from freshloop.content.recipes import (  # noqa: F401
    ShoppingLine,
    recipe_categories,
    recipe_get,
    recipe_list,
    recipe_shopping_list,
)
