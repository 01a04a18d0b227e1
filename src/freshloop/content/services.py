"""The writes of Content library (SPEC BM-6): the module's public face, re-exported from the feature files (one
block per feature)."""

from __future__ import annotations

# --- recipes and the content library (FD-4, BM-6) ---
from freshloop.content.library import (  # noqa: F401
    content_item_archive,
    content_item_create,
)
from freshloop.content.recipes import (  # noqa: F401
    ImportResult,
    howtocook_path,
    recipe_create,
    recipes_import_howtocook,
)
