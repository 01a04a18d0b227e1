"""Errors of flash sales."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, NotFound


class FlashSaleNotFound(NotFound):
    code = "flash_sale_not_found"
    message = "秒杀活动不存在"


class FlashSaleInvalid(InvalidInput):
    code = "flash_sale_invalid"
    message = "秒杀设置不正确"


class FlashSaleQuantityInvalid(InvalidInput):
    code = "flash_sale_quantity_invalid"
    message = "购买数量不正确"


class FlashSaleSessionNotLive(Conflict):
    code = "flash_sale_session_not_live"
    message = "直播未在进行中，不能发起秒杀"


class FlashSaleAlreadyRunning(Conflict):
    code = "flash_sale_already_running"
    message = "该商品在本场直播已有进行中的秒杀"


class FlashSaleNotOpen(Conflict):
    code = "flash_sale_not_open"
    message = "秒杀已结束"


class FlashSaleSoldOut(Conflict):
    code = "flash_sale_sold_out"
    message = "手慢了，秒杀商品已抢光"


class FlashSaleLimitExceeded(Conflict):
    code = "flash_sale_limit_exceeded"
    message = "超出每人限购数量"
