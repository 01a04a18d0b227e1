from __future__ import annotations

from freshloop.core.errors import Conflict


class OutOfStock(Conflict):
    code = "out_of_stock"
    message = "库存不足"
