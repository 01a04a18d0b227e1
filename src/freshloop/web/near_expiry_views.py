"""临期库存: the near-expiry report of fulfillment with its launch actions, mounted at
/console/fulfillment/near-expiry/ (registered in config/urls.py before fulfillment's own pages).

It lives in `web` because it composes services fulfillment must not import: a lot is only
offered where FEFO's channel minimums (`inventory.freshness`) still let it be sold, so each
suggestion of `fulfillment.selectors.near_expiry_report` launches one thing —

- 限时特价: a promotions FLASH_PRICE campaign on the SKU for shop + live, ending the day the
  lot drops below the shop's minimum;
- 团购池: a FLASH_PRICE campaign on channel groupbuy, ending when the lot drops below group
  buying's minimum (group deals sell through the groupbuy channel's campaigns);
- 员工内购 / 报损: the lot's units leave stock by `inventory.services.lot_book_out`, which
  lowers the lot's own count (`BatchStock.quantity`) as well as the warehouse's on hand, so
  FEFO picking can no longer choose them and the lot leaves this report; the stock movement
  (reason = action and lot, ref = `book_out_key`) and an audit record are the trail. A lot on
  hold is not in the report; the service would let one be written off, never sold to staff.

A launch is keyed by the lot and the action (the campaign code, the movement's ref), so a
double click finds the first one and creates nothing more. The book-out checks its key under
the stock level's row lock, so two clicks at the same instant book the units out once; the
campaign's code is unique, so the losing click of two finds the winner's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_POST

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError
from freshloop.core.permissions import Role
from freshloop.fulfillment.selectors import NearExpiryRow, near_expiry_report
from freshloop.inventory.models import StockMovement, Warehouse
from freshloop.inventory.services import lot_book_out
from freshloop.promotions.models import Campaign, CampaignKind
from freshloop.promotions.services import CampaignSpec, campaign_create

# as fulfillment's console: supply chain acts, customer service reads
read_access = console_access(Role.SUPPLY_CHAIN, Role.CUSTOMER_SERVICE)
write_access = console_access(Role.SUPPLY_CHAIN)

PAGE = "/console/fulfillment/near-expiry/"
SUGGESTED_OFF = {"flash_price": 20, "groupbuy_pool": 30}  # percent off the list price
CAMPAIGN_CHANNELS = {"flash_price": ["shop", "live"], "groupbuy_pool": ["groupbuy"]}
CAMPAIGN_NAMES = {"flash_price": "临期特价", "groupbuy_pool": "团购池"}
STOCK_REASONS = {"staff_sale": "员工内购", "write_off": "报损"}
CATEGORIES = (
    (
        "flash_price",
        "限时特价",
        "商城仍可销售、但即将（保质期的 1/10 内，至少 1 天）低于商城最短剩余保质期（保质期的 2/3）的批次：在商城和直播间"
        "以特价促销，活动在批次低于商城标准当天结束。",
    ),
    (
        "groupbuy_pool",
        "团购池",
        "已低于商城标准、仍满足社区团购标准（保质期的 1/2）的批次：为社区团购渠道设置特价，"
        "团长的拼团（#18 团购）按该渠道的活动价销售，活动在批次低于团购标准当天结束。",
    ),
    (
        "staff_sale",
        "员工内购",
        "已低于所有渠道的最短剩余保质期、尚未过期的批次：从可售库存中出库给员工内购，库存流水留痕。",
    ),
    ("write_off", "报损", "已过期的批次：从库存中报损出库，不得再销售。"),
)


def campaign_code(action: str, batch_id: int) -> str:
    """One campaign per lot and action: what a double click finds instead of a second one."""
    return f"near-expiry-{'flash' if action == 'flash_price' else 'pool'}-{batch_id}"


def stock_reason(action: str, batch_no: str) -> str:
    return f"{STOCK_REASONS[action]} 批次 {batch_no}"


def book_out_key(action: str, batch_id: int, warehouse_id: int) -> str:
    """One book-out per lot, warehouse and action: the movement's ref, its idempotency key."""
    return f"near-expiry:{action}:{batch_id}:{warehouse_id}"


def _ends_at(sell_until: dt.date) -> dt.datetime:
    """The campaign runs through `sell_until` (Shanghai): it ends at the next midnight."""
    return dt.datetime.combine(
        sell_until + dt.timedelta(days=1), dt.time.min, tzinfo=clock.SHANGHAI
    )


@dataclass
class Launch:
    """One report row on the page: the lot, what was already launched for it, the suggested
    price for a campaign."""

    row: NearExpiryRow
    done: str
    list_price_fen: int
    suggested_price_fen: int

    @property
    def suggested_yuan(self) -> str:
        return f"{self.suggested_price_fen / 100:.2f}"


def _done(row: NearExpiryRow, campaigns: set[str], moved: set[tuple[int, int, str]]) -> str:
    action = row.action
    if action in CAMPAIGN_CHANNELS:
        code = campaign_code(action, row.batch_id)
        return f"已创建活动 {code}" if code in campaigns else ""
    # a lot booked out by `lot_book_out` leaves the report; one still here with a movement of
    # its reason was booked out before the lot's own count moved with it (level only)
    reason = stock_reason(action, row.batch_no)
    key = (row.warehouse_id, row.sku_id, reason)
    return f"已出库（{reason}）" if key in moved else ""


def _launches() -> list[tuple[str, str, str, list[Launch]]]:
    rows = near_expiry_report()
    prices = dict(
        Sku.objects.filter(pk__in={row.sku_id for row in rows}).values_list("pk", "price_fen")
    )
    campaigns = set(
        Campaign.objects.filter(
            code__in=[
                campaign_code(row.action, row.batch_id)
                for row in rows
                if row.action in CAMPAIGN_CHANNELS
            ]
        ).values_list("code", flat=True)
    )
    reasons = [
        stock_reason(row.action, row.batch_no) for row in rows if row.action in STOCK_REASONS
    ]
    moved = set(
        StockMovement.objects.filter(note__in=reasons).values_list(
            "stock__warehouse_id", "stock__sku_id", "note"
        )
    )
    grouped: dict[str, list[Launch]] = {code: [] for code, _, _ in CATEGORIES}
    for row in rows:
        price = prices.get(row.sku_id, 0)
        off = SUGGESTED_OFF.get(row.action, 0)
        grouped[row.action].append(
            Launch(
                row=row,
                done=_done(row, campaigns, moved),
                list_price_fen=price,
                suggested_price_fen=max(1, price * (100 - off) // 100),
            )
        )
    return [(code, title, hint, grouped[code]) for code, title, hint in CATEGORIES]


@require_GET
@read_access
def near_expiry(request: HttpRequest) -> HttpResponse:
    categories = _launches()
    return render(
        request,
        "web/console/near_expiry.html",
        {
            "categories": categories,
            "total": sum(len(rows) for _, _, _, rows in categories),
        },
    )


def _find(batch_id: int, warehouse_id: int, action: str) -> NearExpiryRow | None:
    for row in near_expiry_report():
        if row.batch_id == batch_id and row.warehouse_id == warehouse_id and row.action == action:
            return row
    return None


def _price(raw: str) -> int | None:
    """A price typed in yuan (e.g. 12.80) as fen."""
    try:
        value = round(float(raw.strip()) * 100)
    except ValueError:
        return None
    return value if value > 0 else None


@require_POST
@write_access
def near_expiry_launch(request: HttpRequest) -> HttpResponse:
    action = str(request.POST.get("action", ""))
    batch = str(request.POST.get("batch_id", ""))
    warehouse = str(request.POST.get("warehouse_id", ""))
    if action not in SUGGESTED_OFF and action not in STOCK_REASONS:
        messages.error(request, "未知的处理方式")
        return HttpResponseRedirect(PAGE)
    row = (
        _find(int(batch), int(warehouse), action)
        if batch.isdigit() and warehouse.isdigit()
        else None
    )
    if row is None:
        if action in STOCK_REASONS and batch.isdigit() and warehouse.isdigit():
            done = _booked_out(action, int(batch), int(warehouse))
            if done:  # the lot left the report because this very action took its units
                messages.info(request, done)
                return HttpResponseRedirect(PAGE)
        messages.error(request, "这个批次已不再建议这样处理（库存或日期已变化），请刷新后重试")
        return HttpResponseRedirect(PAGE)
    actor = Actor.for_user(request.user)
    if action in CAMPAIGN_CHANNELS:
        _launch_campaign(request, row, action, actor)
    else:
        _book_out(request, row, action, actor)
    return HttpResponseRedirect(PAGE)


def _launch_campaign(request: HttpRequest, row: NearExpiryRow, action: str, actor: Actor) -> None:
    code = campaign_code(action, row.batch_id)
    if Campaign.objects.filter(code=code).exists():
        messages.info(request, f"活动 {code} 已经创建过，没有重复创建")
        return
    price = _price(str(request.POST.get("price_yuan", "")))
    if price is None:
        messages.error(request, "请填写大于 0 的活动价（元）")
        return
    sell_until = row.sell_until or clock.to_shanghai(clock.now()).date()
    name = f"{CAMPAIGN_NAMES[action]} {row.batch_no}"[:64]
    spec = CampaignSpec(
        code=code,
        name=name,
        kind=CampaignKind.FLASH_PRICE,
        starts_at=clock.now(),
        ends_at=_ends_at(sell_until),
        channels=CAMPAIGN_CHANNELS[action],
        prices={row.sku_id: price},
    )
    try:
        campaign_create(actor=actor, spec=spec)
    except DomainError as error:
        if Campaign.objects.filter(code=code).exists():  # the other click won
            messages.info(request, f"活动 {code} 已经创建过，没有重复创建")
            return
        messages.error(request, f"创建活动失败：{error.text}")
        return
    channels = "、".join(
        {"shop": "商城", "live": "直播间", "groupbuy": "社区团购"}[c] for c in spec.channels
    )
    messages.success(
        request,
        f"已创建限时特价活动「{name}」（{code}）：{row.name} ¥{price / 100:.2f}，"
        f"渠道 {channels}，至 {sell_until.month}月{sell_until.day}日 结束",
    )


def _booked_out(action: str, batch_id: int, warehouse_id: int) -> str:
    """The message for a lot this action already booked out, or "" (a read only: nothing is
    written after it, the service checks the key again under its lock)."""
    movement = StockMovement.objects.filter(
        ref=book_out_key(action, batch_id, warehouse_id), stock__warehouse_id=warehouse_id
    ).first()
    if movement is None:
        return ""
    return f"{movement.note} 已经出库过（{-movement.on_hand_delta} 件），没有重复出库"


def _book_out(request: HttpRequest, row: NearExpiryRow, action: str, actor: Actor) -> None:
    reason = stock_reason(action, row.batch_no)
    if StockMovement.objects.filter(
        stock__sku_id=row.sku_id, stock__warehouse_id=row.warehouse_id, note=reason, ref=""
    ).exists():
        # booked out by `stock_adjust` before lots were booked out (the level only): no code
        # writes such a movement any more, so this read cannot race with a write
        messages.info(request, f"批次 {row.batch_no} 已经出库过（{reason}），没有重复出库")
        return
    try:
        result = lot_book_out(
            batch_id=row.batch_id,
            warehouse_id=row.warehouse_id,
            units=row.units,
            reason=reason,
            ref=book_out_key(action, row.batch_id, row.warehouse_id),
            actor=actor,
            write_off=action == "write_off",
        )
    except DomainError as error:
        messages.error(request, f"出库失败：{error.text}")
        return
    if result.already_done:
        messages.info(request, f"批次 {row.batch_no} 已经出库过（{reason}），没有重复出库")
        return
    warehouse = Warehouse.objects.get(pk=row.warehouse_id)
    messages.success(
        request,
        f"已从{warehouse.name}出库 {result.units} 件 {row.name}（{reason}），库存流水已记录",
    )


# Included by config/urls.py at /console/fulfillment/near-expiry/ (before fulfillment's pages).
urlpatterns: list[URLPattern] = [
    path("", near_expiry, name="near-expiry"),
    path("launch", near_expiry_launch, name="near-expiry-launch"),
]
