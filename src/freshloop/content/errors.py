"""Typed errors of Content library (SPEC BM-6): a machine code, a Chinese message, an HTTP status."""

from __future__ import annotations

# --- recipes and the content library (FD-4, BM-6) ---
from freshloop.core.errors import (
    DomainError,  # noqa: F401
    InvalidInput,
    NotFound,
)


class RecipeNotFound(NotFound):
    code = "recipe_not_found"
    message = "菜谱不存在或未发布"


class RecipeInvalid(InvalidInput):
    code = "recipe_invalid"
    message = "菜谱内容有误"


class RecipeImportFailed(InvalidInput):
    code = "recipe_import_failed"
    message = "菜谱数据文件无法导入"


class ContentItemNotFound(NotFound):
    code = "content_item_not_found"
    message = "素材不存在"


class ContentItemInvalid(InvalidInput):
    code = "content_item_invalid"
    message = "素材内容有误"
