"""Import (or re-import) the HowToCook recipes shipped in node_modules/howtocook-mcp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from freshloop.content.errors import RecipeImportFailed
from freshloop.content.services import recipes_import_howtocook


class Command(BaseCommand):
    help = "导入 HowToCook 菜谱数据集（howtocook-mcp 的 all_recipes.json）；重复导入只更新"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--path", type=Path, default=None, help="数据文件（默认 node_modules 中的）"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = recipes_import_howtocook(path=options["path"])
        except RecipeImportFailed as error:
            raise CommandError(f"{error.text}: {error.detail}") from error
        self.stdout.write(
            f"菜谱导入完成：新增 {result.created}，更新 {result.updated}，未变 {result.unchanged}"
        )
