from __future__ import annotations

from freshloop.core.errors import Conflict


class OutOfStock(Conflict):
    code = "out_of_stock"
    message = "库存不足"


class LotShortfall(Conflict):
    """The lots fresh enough for the order (not expired, enough shelf life left for its
    channel) hold fewer units than it ships: an error, never silently ignored."""

    code = "lot_shortfall"
    message = "符合保质期要求的批次库存不足"


class LotUnitsShort(Conflict):
    """A lot-level book-out asked for more units than the lot still holds in that warehouse."""

    code = "lot_units_short"
    message = "该批次库存不足"


class LotOnHold(Conflict):
    """A lot on hold (a recall) may be written off — destroyed — but not handed out."""

    code = "lot_on_hold"
    message = "该批次已冻结，只能报损，不能出库销售"


class StockPromised(Conflict):
    """Taking the units out would leave fewer on hand than are promised to orders."""

    code = "stock_promised"
    message = "出库后在库数量将少于已预占数量，已被订单占用的库存不能出库"


class StockPlanStale(Conflict):
    """A level a batch's reservation plan counted on lost units to another order before the
    plan was written (`inventory.batch_reserve`): the batch goes one order at a time."""

    code = "stock_plan_stale"
    message = "库存已变化，请逐单重试"
