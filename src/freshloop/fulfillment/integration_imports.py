"""ERP / WMS integration, inbound (FF-4): stock-level updates by API or CSV upload.

Every import is all-or-nothing: rows are checked one by one (each problem reported as
`{"row", "field", "message"}`, the CSV's line number counting the header as row 1), then
applied inside one transaction through the inventory module's own services (`stock_receive`
with the lot, `stock_adjust`, `stock_take` for counted levels); a service refusing any row
rolls every row back. A dry run does the same work and always rolls back, so it also finds the
refusals only applying reveals (a count below what is reserved). Each run is recorded
(`ImportRun`) with its errors.

Row fields: `warehouse` (code), `sku` (code), `mode` (`receive` | `adjust` | `count`),
`quantity` (units received, ± correction, or the counted level), `batch_no` and `produced_on`
(a lot received; an unknown lot number is registered with that production date), `reason`
(required for `adjust`). Chinese headers (仓库编码, SKU编码, 类型, 数量, 批次号, 生产日期, 原因)
are accepted too.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import transaction

from freshloop.catalog.models import Batch, Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.fulfillment.errors import ImportMalformed, ImportRejected
from freshloop.fulfillment.models import ImportRun
from freshloop.inventory.models import Warehouse
from freshloop.inventory.services import stock_adjust, stock_receive, stock_take

MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
MODES = {"receive": "入库", "adjust": "调整", "count": "盘点"}
HEADER_ALIASES = {
    "仓库编码": "warehouse",
    "仓库": "warehouse",
    "sku编码": "sku",
    "类型": "mode",
    "数量": "quantity",
    "批次号": "batch_no",
    "生产日期": "produced_on",
    "原因": "reason",
}
FIELDS = ("warehouse", "sku", "mode", "quantity", "batch_no", "produced_on", "reason")


@dataclasses.dataclass(frozen=True)
class StockRow:
    row: int
    warehouse: Warehouse
    sku: Sku
    mode: str
    quantity: int
    batch: Batch | None
    batch_no: str
    produced_on: dt.date | None
    reason: str


@dataclasses.dataclass(frozen=True)
class ImportOutcome:
    run: ImportRun
    rows: int
    applied: bool
    dry_run: bool
    errors: list[dict[str, Any]]
    changes: list[dict[str, Any]]


class _RolledBack(Exception):
    """Raised inside the import's transaction to undo it (a dry run, or a refused row)."""


Changes = list[dict[str, Any]]
Problems = list[dict[str, Any]]


def all_or_nothing(
    apply: Callable[[], tuple[Changes, Problems]], *, dry_run: bool
) -> tuple[Changes, Problems, bool]:
    """Run `apply` in one transaction and keep it only when it found no problem and this is
    not a dry run (a dry run does the whole work, then rolls it back). Returns the changes,
    the problems and whether anything was kept."""
    changes: Changes = []
    errors: Problems = []
    try:
        with transaction.atomic():
            changes, errors = apply()
            if errors or dry_run:
                raise _RolledBack
            return changes, errors, True
    except _RolledBack:
        return changes, errors, False


def import_run_record(
    *,
    kind: str,
    action: str,
    rows: Sequence[Mapping[str, Any]],
    source: str,
    dry_run: bool,
    applied: bool,
    errors: Problems,
    changes: Changes,
    actor: Actor,
) -> ImportOutcome:
    """Record an import (what was asked, what came of it), audit it, and refuse it as a whole
    with every row's problem when it was not a dry run."""
    errors.sort(key=lambda e: (e["row"], e["field"]))
    run = ImportRun.objects.create(
        kind=kind,
        source=source[:16],
        dry_run=dry_run,
        applied=applied,
        rows=sum(1 for row in rows if row),
        errors=errors,
        actor=actor.label[:64],
        created_at=clock.now(),
    )
    audit_record(
        actor=actor,
        action=action,
        target=run,
        after={"applied": applied, "dry_run": dry_run, "rows": run.rows, "errors": len(errors)},
    )
    if errors and not dry_run:
        raise ImportRejected(
            f"{ImportRejected.message}（{len(errors)} 处问题）",
            detail={"import_id": run.pk, "errors": errors},
        )
    return ImportOutcome(
        run=run, rows=run.rows, applied=applied, dry_run=dry_run, errors=errors, changes=changes
    )


def csv_rows(
    content: bytes,
    *,
    required: tuple[str, ...] = ("warehouse", "sku", "mode", "quantity"),
    aliases: Mapping[str, str] = HEADER_ALIASES,
) -> list[dict[str, str]]:
    """The CSV's data rows as dicts keyed by the canonical field names (`aliases` maps
    Chinese headers to them)."""
    if len(content) > MAX_BYTES:
        raise ImportMalformed("文件不能超过 2 MB", detail={"bytes": len(content)})
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportMalformed("无法识别文件编码，请另存为 UTF-8 CSV")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise ImportMalformed("文件是空的")
    names = [aliases.get(cell.strip().lower(), cell.strip().lower()) for cell in header]
    missing = [name for name in required if name not in names]
    if missing:
        raise ImportMalformed(f"缺少列：{'、'.join(missing)}", detail={"missing": missing})
    rows: list[dict[str, str]] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            rows.append({})  # an empty line keeps its row number but asks for nothing
            continue
        rows.append({name: cell.strip() for name, cell in zip(names, cells, strict=False)})
    if len(rows) > MAX_ROWS:
        raise ImportMalformed(f"一次最多导入 {MAX_ROWS} 行", detail={"rows": len(rows)})
    return rows


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return None


def _check(
    rows: Sequence[Mapping[str, Any]], first_row: int
) -> tuple[list[StockRow], list[dict[str, Any]]]:
    warehouses = {w.code: w for w in Warehouse.objects.all()}
    codes = {str(row.get("sku", "")).strip() for row in rows}
    skus = {s.code: s for s in Sku.objects.filter(code__in=codes).select_related("product")}
    checked: list[StockRow] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(rows):
        number = first_row + index
        if not raw:
            continue

        def problem(field: str, message: str, number: int = number) -> None:
            errors.append({"row": number, "field": field, "message": message})

        before = len(errors)
        if not isinstance(raw, Mapping):
            problem("row", "每行应为一个对象")
            continue
        for name in sorted(set(raw) - set(FIELDS)):
            problem(name, "不认识的字段")
        warehouse = warehouses.get(str(raw.get("warehouse", "")).strip())
        if warehouse is None:
            problem("warehouse", "仓库编码不存在")
        sku = skus.get(str(raw.get("sku", "")).strip())
        if sku is None:
            problem("sku", "SKU 编码不存在")
        mode = str(raw.get("mode", "")).strip()
        if mode not in MODES:
            problem("mode", "类型应为 receive（入库）、adjust（调整）或 count（盘点）")
        quantity = _int(raw.get("quantity"))
        if quantity is None:
            problem("quantity", "数量必须是整数")
        elif mode == "receive" and quantity <= 0:
            problem("quantity", "入库数量必须大于 0")
        elif mode == "adjust" and quantity == 0:
            problem("quantity", "调整数量不能为 0")
        elif mode == "count" and quantity < 0:
            problem("quantity", "盘点数量不能为负数")
        reason = str(raw.get("reason") or "").strip()[:200]
        if mode == "adjust" and not reason:
            problem("reason", "调整库存请填写原因")
        batch_no = str(raw.get("batch_no") or "").strip()
        produced_text = str(raw.get("produced_on") or "").strip()
        produced_on = None
        if produced_text:
            try:
                produced_on = dt.date.fromisoformat(produced_text)
            except ValueError:
                problem("produced_on", "生产日期格式应为 YYYY-MM-DD")
        batch = None
        if batch_no and mode != "receive":
            problem("batch_no", "只有入库可以指定批次")
        elif batch_no and sku is not None:
            batch = Batch.objects.filter(sku=sku, batch_no=batch_no).first()
            if batch is None and produced_on is None and not produced_text:
                problem("produced_on", "新批次请填写生产日期")
        if len(errors) == before:
            assert warehouse is not None
            assert sku is not None
            assert quantity is not None
            checked.append(
                StockRow(
                    number, warehouse, sku, mode, quantity, batch, batch_no, produced_on, reason
                )
            )
    return checked, errors


def _apply(
    rows: list[StockRow], actor: Actor, note: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply each row in its own savepoint, collecting refusals; the caller rolls back all
    when there is any."""
    changes: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for row in rows:
        try:
            with transaction.atomic():
                if row.mode == "receive":
                    batch = row.batch
                    if row.batch_no and batch is None:
                        assert row.produced_on is not None
                        batch = batch_register(
                            sku=row.sku, batch_no=row.batch_no, produced_on=row.produced_on
                        )
                    level = stock_receive(
                        sku=row.sku,
                        warehouse=row.warehouse,
                        quantity=row.quantity,
                        actor=actor,
                        batch=batch,
                        ref=note,
                    )
                    on_hand = level.on_hand
                elif row.mode == "adjust":
                    level = stock_adjust(
                        sku=row.sku,
                        warehouse=row.warehouse,
                        delta=row.quantity,
                        reason=row.reason,
                        actor=actor,
                    )
                    on_hand = level.on_hand
                else:
                    stock_take(
                        warehouse=row.warehouse,
                        counts={row.sku.pk: row.quantity},
                        actor=actor,
                        note=row.reason or note,
                    )
                    on_hand = row.quantity
        except DomainError as error:
            errors.append({"row": row.row, "field": "quantity", "message": error.text})
            continue
        changes.append(
            {
                "row": row.row,
                "warehouse": row.warehouse.code,
                "sku": row.sku.code,
                "mode": row.mode,
                "quantity": row.quantity,
                "on_hand": on_hand,
            }
        )
    return changes, errors


def stock_import(
    *,
    rows: Sequence[Mapping[str, Any]],
    actor: Actor,
    dry_run: bool = False,
    source: str = "api",
    first_row: int = 1,
) -> ImportOutcome:
    """Apply stock updates all-or-nothing (see the module docstring). Rows with problems
    raise `ImportRejected` unless `dry_run`, which reports them in the outcome instead."""
    if not rows:
        raise ImportMalformed("没有需要导入的数据")
    checked, errors = _check(rows, first_row)
    changes: list[dict[str, Any]] = []
    applied = False
    if not errors:
        changes, errors, applied = all_or_nothing(
            lambda: _apply(checked, actor, f"import:{source}"), dry_run=dry_run
        )
    return import_run_record(
        kind="stock",
        action="fulfillment.stock_import",
        rows=rows,
        source=source,
        dry_run=dry_run,
        applied=applied,
        errors=errors,
        changes=changes,
        actor=actor,
    )


def stock_import_csv(*, content: bytes, actor: Actor, dry_run: bool = False) -> ImportOutcome:
    """A CSV upload (console or API): the header is row 1, data rows count from 2."""
    return stock_import(
        rows=csv_rows(content), actor=actor, dry_run=dry_run, source="csv", first_row=2
    )
