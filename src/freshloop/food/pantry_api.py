"""The pantry API for buyers (FD-2), under /api/v1/food/pantry: the list with the waste-avoided
counter, add by scan or by hand, 用完了 / 扔掉了, and one-tap reorder into the cart."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status

from freshloop.core.api_errors import raises
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.schemas import MAX_ID, InputSchema
from freshloop.food.errors import PantryInputInvalid, PantryItemClosed, PantryItemNotFound
from freshloop.food.models import PantryItem, PantryStatus
from freshloop.food.pantry import (
    PantryItemInput,
    ean13_valid,
    expiry_colour,
    pantry_barcode_lookup,
    pantry_cart_ensure,
    pantry_item_add,
    pantry_item_close,
    pantry_item_get_for_person,
    pantry_items_for_person,
    pantry_waste_stats,
    recipes_for_pantry_item,
    shanghai_today,
)
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.orders.errors import CartLimitExceeded

router = Router(tags=["食品柜 pantry"], auth=ConsumerAuth())

ItemId = Path(..., ge=1, le=MAX_ID, description="物品编号")


class RecipeOut(Schema):
    title: str
    url: str


class PantryItemOut(Schema):
    id: int
    name: str
    storage: str = Field(..., description="ambient 常温 / chilled 冷藏 / frozen 冷冻")
    quantity: int
    expires_on: dt.date = Field(..., description="到期日期（北京时间日历日）")
    days_left: int = Field(..., description="距到期天数，负数为已过期")
    colour: str = Field(..., description="expired / soon(≤3天) / week(≤7天) / fresh")
    expiry_estimated: bool
    status: str = Field(..., description="active 在储 / used 用完了 / thrown 扔掉了")
    source: str = Field(..., description="order 订单签收 / scan 扫码 / typed 手动")
    sku_id: int | None = Field(None, description="可一键再来一份时为商品规格编号")
    order_no: str
    recipes: list[RecipeOut] = Field(default_factory=list, description="临期食谱推荐（如有）")


class WasteOut(Schema):
    saved: int = Field(..., description="在到期前用完的件数（避免的浪费）")
    used_late: int = Field(..., description="过期后才用完的件数")
    thrown: int = Field(..., description="扔掉的件数")
    saved_rate: int = Field(..., description="未浪费比例（%）")


class PantryOut(Schema):
    items: list[PantryItemOut]
    waste: WasteOut


class PantryItemIn(InputSchema):
    expires_on: str = Field(
        ...,
        min_length=1,
        max_length=10,
        title="到期日期",
        description="YYYY-MM-DD（北京时间日历日）",
    )
    barcode: str = Field("", max_length=13, title="条码", description="EAN-13，13 位数字（可空）")
    name: str = Field("", max_length=128, title="物品名称", description="扫到已登记条码时可空")
    storage: str = Field(
        "", max_length=16, title="储存方式", description="ambient / chilled / frozen"
    )
    quantity: int = Field(1, ge=1, le=999, title="数量")


class BarcodeOut(Schema):
    ean: str
    sku_id: int | None
    name: str
    storage: str


class ReorderOut(Schema):
    sku_id: int
    quantity: int = Field(..., description="购物车中该商品的数量")


def item_out(item: PantryItem, today: dt.date) -> PantryItemOut:
    days_left = (item.expires_on - today).days
    near = item.status == PantryStatus.ACTIVE and 0 <= days_left <= 3
    return PantryItemOut(
        id=item.pk,
        name=item.name,
        storage=item.storage,
        quantity=item.quantity,
        expires_on=item.expires_on,
        days_left=days_left,
        colour=expiry_colour(item.expires_on, today=today),
        expiry_estimated=item.expiry_estimated,
        status=item.status,
        source=item.source,
        sku_id=item.sku_id,
        order_no=item.order_no,
        recipes=[RecipeOut(**r) for r in recipes_for_pantry_item(item=item)] if near else [],
    )


@router.get("", response=PantryOut, summary="我的食品柜（按到期日排序）与避免浪费统计")
def pantry_get(request: HttpRequest, closed: bool = False) -> PantryOut:
    person = request_person(request)
    today = shanghai_today()
    stats = pantry_waste_stats(person_id=person.pk)
    return PantryOut(
        items=[
            item_out(item, today)
            for item in pantry_items_for_person(person_id=person.pk, include_closed=closed)
        ],
        waste=WasteOut(
            saved=stats.saved,
            used_late=stats.used_late,
            thrown=stats.thrown,
            saved_rate=stats.saved_rate,
        ),
    )


@router.post("/items", response={201: PantryItemOut}, summary="扫码或手动添加物品")
@raises(PantryInputInvalid)
def pantry_item_post(request: HttpRequest, body: PantryItemIn) -> Status[PantryItemOut]:
    try:
        # Only the plain calendar form: fromisoformat would also take "20261210" or "2026-W50-4".
        if len(body.expires_on) != 10:
            raise ValueError(body.expires_on)
        expires_on = dt.date.fromisoformat(body.expires_on)
    except ValueError:
        raise PantryInputInvalid.for_fields([("expires_on", "到期日期不是有效日期")]) from None
    item = pantry_item_add(
        person_id=request_person(request).pk,
        data=PantryItemInput(
            expires_on=expires_on,
            name=body.name,
            storage=body.storage,
            barcode=body.barcode,
            quantity=body.quantity,
        ),
    )
    return Status(201, item_out(item, shanghai_today()))


@router.get("/barcodes/{ean}", response=BarcodeOut, summary="查询条码对应的商品（EAN-13）")
@raises(PantryInputInvalid)
def pantry_barcode_get(
    request: HttpRequest, ean: str = Path(..., max_length=13, description="EAN-13 条码")
) -> BarcodeOut:
    if not ean13_valid(ean):
        raise PantryInputInvalid.for_fields([("ean", "条码应为 13 位数字且校验位正确（EAN-13）")])
    sku = pantry_barcode_lookup(ean=ean)
    if sku is None:
        return BarcodeOut(ean=ean, sku_id=None, name="", storage="")
    return BarcodeOut(
        ean=ean,
        sku_id=sku.pk,
        name=f"{sku.product.name} {sku.spec}".strip(),
        storage=sku.product.storage,
    )


@router.post("/items/{item_id}/used", response=PantryItemOut, summary="用完了")
@raises(PantryItemNotFound, PantryItemClosed, PantryInputInvalid)
def pantry_item_used(request: HttpRequest, item_id: int = ItemId) -> PantryItemOut:
    item = pantry_item_close(
        person_id=request_person(request).pk, item_id=item_id, outcome=PantryStatus.USED
    )
    return item_out(item, shanghai_today())


@router.post("/items/{item_id}/thrown", response=PantryItemOut, summary="扔掉了")
@raises(PantryItemNotFound, PantryItemClosed, PantryInputInvalid)
def pantry_item_thrown(request: HttpRequest, item_id: int = ItemId) -> PantryItemOut:
    item = pantry_item_close(
        person_id=request_person(request).pk, item_id=item_id, outcome=PantryStatus.THROWN
    )
    return item_out(item, shanghai_today())


@router.post("/items/{item_id}/reorder", response=ReorderOut, summary="一键再来一份（加入购物车）")
@raises(PantryItemNotFound, NotFound, CartLimitExceeded, InvalidInput)
def pantry_item_reorder(request: HttpRequest, item_id: int = ItemId) -> ReorderOut:
    person = request_person(request)
    item = pantry_item_get_for_person(person_id=person.pk, item_id=item_id)
    if item.sku_id is None:
        raise PantryItemNotFound("这件物品不是本店商品，无法一键再来一份")
    quantity = pantry_cart_ensure(person=person, sku_id=item.sku_id)
    return ReorderOut(sku_id=item.sku_id, quantity=quantity)
