"""临期库存 (web/near_expiry_views.py): the near-expiry report's categories follow FEFO's
channel minimums, and each launch creates exactly what it says, once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from freshloop.catalog.models import Batch, Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.fulfillment.selectors import near_expiry_report
from freshloop.inventory.models import BatchStock, StockLevel, StockMovement, Warehouse
from freshloop.inventory.services import stock_adjust, stock_receive
from freshloop.promotions.models import Campaign, CampaignPrice
from tests.concurrency import run_at_once
from tests.factories import make_sku, make_staff_user, make_warehouse

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 12, 1)
PAGE = "/console/fulfillment/near-expiry/"
LAUNCH = "/console/fulfillment/near-expiry/launch"
OPERATOR = Actor.system("tests")


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with clock.frozen(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)):
        yield


def lot(sku: Sku, where: Warehouse, *, expires_in: int, units: int, no: str) -> Batch:
    expires = TODAY + dt.timedelta(days=expires_in)
    batch = batch_register(
        sku=sku, batch_no=no, produced_on=expires - dt.timedelta(days=7), expires_on=expires
    )
    stock_receive(sku=sku, warehouse=where, quantity=units, actor=OPERATOR, batch=batch)
    return batch


class Stock:
    def __init__(self) -> None:
        # milk keeps 7 days: the shop needs 5 days left, group buying 4; the shop's last day
        # (5 left) is the flash price's, a lot with 6 left needs nothing yet
        self.where = make_warehouse("sh")
        self.milk = make_sku(storage="chilled", price_fen=1000)
        self.later = lot(self.milk, self.where, expires_in=6, units=6, no="LATER")
        self.fresh = lot(self.milk, self.where, expires_in=5, units=5, no="FRESH")
        self.pool = lot(self.milk, self.where, expires_in=4, units=4, no="POOL")
        self.short = lot(self.milk, self.where, expires_in=2, units=3, no="SHORT")
        self.gone = lot(self.milk, self.where, expires_in=-1, units=1, no="GONE")


@pytest.fixture
def stock() -> Stock:
    return Stock()


@pytest.fixture
def supply() -> Client:
    client = Client()
    client.force_login(make_staff_user("supply", Role.SUPPLY_CHAIN))
    return client


def launch(client: Client, stock: Stock, batch: Batch, action: str, **extra: str) -> list[str]:
    response = client.post(
        LAUNCH,
        {"action": action, "batch_id": batch.pk, "warehouse_id": stock.where.pk, **extra},
    )
    assert response.status_code == 302
    return [str(message) for message in get_messages(response.wsgi_request)]


def on_hand(stock: Stock) -> int:
    return StockLevel.objects.get(sku=stock.milk, warehouse=stock.where).on_hand


def lot_units(stock: Stock, batch: Batch) -> int:
    return BatchStock.objects.get(batch=batch, warehouse=stock.where).quantity


def reported(action: str) -> list[str]:
    return [row.batch_no for row in near_expiry_report(today=TODAY) if row.action == action]


class TestNearExpiryPage:
    def test_each_lot_sits_in_the_category_its_freshness_allows(
        self, stock: Stock, supply: Client
    ) -> None:
        # when
        response = supply.get(PAGE)
        # then
        assert response.status_code == 200
        categories = {
            code: [launch.row.batch_no for launch in rows]
            for code, _, _, rows in response.context["categories"]
        }
        assert categories == {
            "flash_price": ["FRESH"],
            "groupbuy_pool": ["POOL"],
            "staff_sale": ["SHORT"],
            "write_off": ["GONE"],
        }
        html = response.content.decode()
        assert "团购池" in html
        assert "拼团" in html
        assert 'value="8.00"' in html  # the shop's 20 % off suggestion

    def test_customer_service_reads_a_marketer_may_not(self, stock: Stock) -> None:
        # given
        service, marketer = Client(), Client()
        service.force_login(make_staff_user("cs", Role.CUSTOMER_SERVICE))
        marketer.force_login(make_staff_user("mk", Role.MARKETER))
        # then
        assert service.get(PAGE).status_code == 200
        assert marketer.get(PAGE).status_code == 403
        response = marketer.post(
            LAUNCH, {"action": "staff_sale", "batch_id": stock.short.pk, "warehouse_id": 1}
        )
        assert response.status_code == 403
        assert StockMovement.objects.filter(note__startswith="员工内购").count() == 0


class TestLaunchFlashPrice:
    def test_creates_one_shop_and_live_campaign_ending_when_the_shop_may_no_longer_sell(
        self, stock: Stock, supply: Client
    ) -> None:
        # when
        said = launch(supply, stock, stock.fresh, "flash_price", price_yuan="8.00")
        # then
        campaign = Campaign.objects.get()
        assert campaign.code == f"near-expiry-flash-{stock.fresh.pk}"
        assert campaign.kind == "flash_price"
        assert sorted(campaign.channels) == ["live", "shop"]
        # FRESH has 5 days left on Dec 1: the shop may sell it through today
        assert campaign.ends_at == dt.datetime(2026, 12, 2, tzinfo=clock.SHANGHAI)
        assert list(CampaignPrice.objects.values_list("sku_id", "price_fen")) == [
            (stock.milk.pk, 800)
        ]
        assert said
        assert campaign.code in said[0]
        assert "已创建" in said[0]
        # the page shows it as launched
        assert f"已创建活动 {campaign.code}" in supply.get(PAGE).content.decode()

    def test_a_double_post_creates_nothing_more(self, stock: Stock, supply: Client) -> None:
        # given
        launch(supply, stock, stock.fresh, "flash_price", price_yuan="8.00")
        # when
        said = launch(supply, stock, stock.fresh, "flash_price", price_yuan="7.00")
        # then
        assert Campaign.objects.count() == 1
        assert "没有重复创建" in said[-1]

    def test_a_price_not_below_the_list_price_is_refused(
        self, stock: Stock, supply: Client
    ) -> None:
        # when
        said = launch(supply, stock, stock.fresh, "flash_price", price_yuan="12")
        # then
        assert Campaign.objects.count() == 0
        assert "创建活动失败" in said[0]

    def test_a_lot_the_shop_may_no_longer_sell_gets_no_shop_campaign(
        self, stock: Stock, supply: Client
    ) -> None:
        # when: a stale or forged form asks for a shop flash price on the group-buy-only lot
        said = launch(supply, stock, stock.pool, "flash_price", price_yuan="8.00")
        # then
        assert Campaign.objects.count() == 0
        assert "不再建议" in said[0]


class TestLaunchGroupbuyPool:
    def test_creates_one_groupbuy_campaign_ending_when_group_buying_may_no_longer_sell(
        self, stock: Stock, supply: Client
    ) -> None:
        # when
        launch(supply, stock, stock.pool, "groupbuy_pool", price_yuan="7.00")
        launch(supply, stock, stock.pool, "groupbuy_pool", price_yuan="7.00")
        # then
        campaign = Campaign.objects.get()
        assert campaign.code == f"near-expiry-pool-{stock.pool.pk}"
        assert campaign.channels == ["groupbuy"]
        assert campaign.ends_at == dt.datetime(2026, 12, 2, tzinfo=clock.SHANGHAI)
        assert CampaignPrice.objects.get().price_fen == 700


class TestLaunchStaffSale:
    def test_books_the_units_out_once_with_the_lot_in_the_reason(
        self, stock: Stock, supply: Client
    ) -> None:
        # given
        before = on_hand(stock)
        # when
        said = launch(supply, stock, stock.short, "staff_sale")
        again = launch(supply, stock, stock.short, "staff_sale")
        # then the lot's own units went with the warehouse's, once
        assert on_hand(stock) == before - 3
        assert lot_units(stock, stock.short) == 0
        movement = StockMovement.objects.get(note="员工内购 批次 SHORT")
        assert movement.on_hand_delta == -3
        assert movement.ref == f"near-expiry:staff_sale:{stock.short.pk}:{stock.where.pk}"
        assert "出库 3 件" in said[0]
        assert "没有重复出库" in again[-1]
        assert Campaign.objects.count() == 0
        # and the lot left the report (FEFO can no longer pick what staff bought)
        assert reported("staff_sale") == []
        page = supply.get(PAGE).context["categories"]
        assert [launch.row.batch_no for _, _, _, rows in page for launch in rows] == [
            "FRESH",
            "POOL",
            "GONE",
        ]

    def test_a_lot_booked_out_by_the_old_level_only_adjustment_is_not_booked_out_again(
        self, stock: Stock, supply: Client
    ) -> None:
        # given SHORT booked out as the page did before lots moved with it (level only)
        stock_adjust(
            sku=stock.milk,
            warehouse=stock.where,
            delta=-3,
            reason="员工内购 批次 SHORT",
            actor=OPERATOR,
        )
        before = on_hand(stock)
        # when
        said = launch(supply, stock, stock.short, "staff_sale")
        # then
        assert "没有重复出库" in said[-1]
        assert on_hand(stock) == before
        assert lot_units(stock, stock.short) == 3


class TestLaunchWriteOff:
    def test_books_expired_units_out_as_loss(self, stock: Stock, supply: Client) -> None:
        # given
        before = on_hand(stock)
        # when
        launch(supply, stock, stock.gone, "write_off")
        launch(supply, stock, stock.gone, "write_off")
        # then
        assert on_hand(stock) == before - 1
        assert lot_units(stock, stock.gone) == 0
        assert StockMovement.objects.filter(note="报损 批次 GONE").count() == 1
        assert reported("write_off") == []

    def test_units_promised_to_orders_are_not_written_off(
        self, stock: Stock, supply: Client
    ) -> None:
        # given every unit on hand promised to an order (an order for lots of any freshness)
        level = StockLevel.objects.get(sku=stock.milk, warehouse=stock.where)
        StockLevel.objects.filter(pk=level.pk).update(reserved=level.on_hand)
        # when
        said = launch(supply, stock, stock.gone, "write_off")
        # then
        assert "出库失败" in said[0]
        assert "已预占" in said[0]
        assert lot_units(stock, stock.gone) == 1
        assert not StockMovement.objects.filter(note="报损 批次 GONE").exists()


@pytest.mark.django_db(transaction=True)
class TestLaunchBookOutConcurrently:
    def test_two_clicks_at_the_same_instant_book_the_lot_out_once(self) -> None:
        # given two operators on the page, both seeing SHORT under 员工内购
        stock = Stock()
        first, second = Client(), Client()
        first.force_login(make_staff_user("supply1", Role.SUPPLY_CHAIN))
        second.force_login(make_staff_user("supply2", Role.SUPPLY_CHAIN))
        before = on_hand(stock)
        # when both click at once
        outcomes = run_at_once(
            [
                lambda: launch(first, stock, stock.short, "staff_sale"),
                lambda: launch(second, stock, stock.short, "staff_sale"),
            ]
        )
        # then one booked the units out, the other was told it was done
        said = [message for outcome in outcomes for message in outcome.value or []]
        assert [outcome.error for outcome in outcomes] == [None, None]
        assert len(said) == 2
        assert sum("出库 3 件" in message for message in said) == 1
        assert sum("没有重复出库" in message for message in said) == 1
        assert StockMovement.objects.filter(note="员工内购 批次 SHORT").count() == 1
        assert on_hand(stock) == before - 3
        assert lot_units(stock, stock.short) == 0
