"""The house rule on row locks: every one is taken in a module's `locks.py` (ARCHITECTURE.md,
"Row locks ... in one `locks.py` per module"), where its order is written down."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import freshloop

SOURCE_ROOT = Path(freshloop.__file__).parent
# Raw SQL row locks count too: FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE.
RAW_ROW_LOCK = re.compile(r"\bFOR\s+(NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(KEY\s+)?SHARE\b")


def takes_row_lock(node: ast.AST) -> bool:
    """`select_for_update` (called or passed on), or a raw SQL locking clause in a string."""
    if isinstance(node, ast.Attribute):
        return node.attr == "select_for_update"
    if isinstance(node, ast.Name):
        return node.id == "select_for_update"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return RAW_ROW_LOCK.search(node.value) is not None
    return False


def row_locks_in(source: str) -> list[int]:
    """Line numbers where `source` takes a row lock."""
    return sorted(node.lineno for node in ast.walk(ast.parse(source)) if takes_row_lock(node))


def row_locks_outside_locks_modules(root: Path) -> list[str]:
    """`path:line` of every row lock under `root` outside a `locks.py` (migrations aside)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "locks.py" or "migrations" in path.relative_to(root).parts:
            continue
        for line in row_locks_in(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(root)}:{line}")
    return found


class TestRowLocksLiveInLocksModules:
    def test_no_row_lock_outside_a_locks_module(self) -> None:
        # given the whole source tree; when it is searched; then every lock is in a locks.py
        assert row_locks_outside_locks_modules(SOURCE_ROOT) == [], (
            "take row locks in the module's locks.py (in primary-key order, the order written "
            "in its docstring) and call that function here"
        )

    def test_the_search_finds_every_way_of_taking_one(self, tmp_path: Path) -> None:
        # given a module that locks in each way the search knows, a locks.py and a migration
        (tmp_path / "shop").mkdir()
        (tmp_path / "shop" / "services.py").write_text(
            "def take(Order, cursor):\n"
            "    Order.objects.select_for_update().get(pk=1)\n"
            "    lock = Order.objects.select_for_update\n"
            '    cursor.execute("SELECT id FROM shop_order WHERE id = 1 FOR UPDATE")\n'
            '    cursor.execute("select 1 FOR KEY SHARE")\n'
            '    note = "waiting for update from the shop"\n',
            encoding="utf-8",
        )
        (tmp_path / "shop" / "locks.py").write_text(
            "def order_lock(Order):\n    return Order.objects.select_for_update().get(pk=1)\n",
            encoding="utf-8",
        )
        (tmp_path / "shop" / "migrations").mkdir()
        (tmp_path / "shop" / "migrations" / "0002_fix.py").write_text(
            "def forwards(Order):\n    Order.objects.select_for_update().all()\n",
            encoding="utf-8",
        )
        # when it is searched
        found = row_locks_outside_locks_modules(tmp_path)
        # then the four locks outside locks.py are named, prose and the allowed places are not
        assert found == [
            "shop/services.py:2",
            "shop/services.py:3",
            "shop/services.py:4",
            "shop/services.py:5",
        ]
