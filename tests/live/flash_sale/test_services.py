"""Flash-sale services (SPEC LV-4): start, buy at the flash price, limits, release, end."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.events import subscribe, unsubscribe
from freshloop.core.models import AuditLog
from freshloop.identity.events import IdentityMerged
from freshloop.identity.privacy import person_export
from freshloop.inventory.models import Reservation, StockLevel
from freshloop.inventory.services import stock_receive
from freshloop.live.events import FlashSaleStarted, FlashSaleStockChanged
from freshloop.live.flash_sale.claims import flash_sale_reconcile
from freshloop.live.flash_sale.errors import (
    FlashSaleAlreadyRunning,
    FlashSaleInvalid,
    FlashSaleLimitExceeded,
    FlashSaleNotOpen,
    FlashSaleQuantityInvalid,
    FlashSaleSessionNotLive,
    FlashSaleSoldOut,
)
from freshloop.live.flash_sale.services import (
    flash_sale_end,
    flash_sale_start,
    flash_sales_close_due,
)
from freshloop.live.host.services import live_session_end
from freshloop.live.models import ClaimStatus, FlashSale, FlashSaleClaim, FlashSaleStatus
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import (
    order_allocate,
    order_cancel,
    order_ship,
    orders_expire_unpaid,
)
from tests.factories import make_order as shop_buy
from tests.factories import make_person, make_sku, make_warehouse
from tests.live.flash_sale.helpers import HOST, buy, make_flash_sale, make_live_session
from tests.orders.helpers import pay


def fresh(sale: FlashSale) -> FlashSale:
    return FlashSale.objects.get(pk=sale.pk)


def start_sale(sku: Sku, *, units: int) -> FlashSale:
    return flash_sale_start(
        session=make_live_session(sku),
        sku=sku,
        price_fen=990,
        quantity=units,
        per_user_limit=1,
        duration_seconds=600,
        actor=HOST,
    )


def shelf(sku: Sku) -> tuple[int, int]:
    """(on hand, reserved) over every warehouse."""
    levels = StockLevel.objects.filter(sku=sku)
    return sum(lv.on_hand for lv in levels), sum(lv.reserved for lv in levels)


@pytest.mark.django_db
class TestFlashSaleStock:
    def test_units_are_set_aside_when_the_sale_opens(self) -> None:
        # given 8 on the shelf and a sale of 5
        sku = make_sku(price_fen=2990, stock=8)
        sale = start_sale(sku, units=5)
        # then the 5 are reserved once, for the whole sale: the shop can sell 3, not 4
        assert shelf(sku) == (8, 5)
        assert Reservation.objects.filter(is_block=True).count() == 1
        with pytest.raises(DomainError):
            shop_buy(make_person(), (sku, 4))
        # and the sale sells its 5 without moving the shelf again
        for _ in range(5):
            buy(sale, make_person())
        assert shelf(sku) == (8, 5)
        with pytest.raises(FlashSaleSoldOut):
            buy(sale, make_person())

    def test_a_cancelled_order_sells_again_and_the_end_gives_the_unsold_back(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        sku = make_sku(price_fen=2990, stock=10)
        sale = start_sale(sku, units=5)
        first, second = buy(sale, make_person()), buy(sale, make_person())
        # a cancelled order's unit is the sale's again (not the shelf's) while it runs
        with django_capture_on_commit_callbacks(execute=True):
            order_cancel(order_no=first.order_no, reason="顾客取消", actor=HOST)
        assert shelf(sku) == (10, 5)
        assert fresh(sale).claimed == 1
        # when the sale ends, the 4 unsold go back to the shelf; the held order keeps its unit
        flash_sale_end(flash_sale=sale, actor=HOST)
        assert shelf(sku) == (10, 1)
        # and an unpaid order past its deadline after the end gives its unit to the shelf
        orders_expire_unpaid(now=clock.now() + dt.timedelta(minutes=16))
        assert Order.objects.get(pk=second.pk).status == OrderStatus.CANCELLED
        assert shelf(sku) == (10, 0)

    def test_a_paid_order_ships_from_the_block(self) -> None:
        sku = make_sku(price_fen=2990, stock=10)
        sale = start_sale(sku, units=3)
        order = pay(buy(sale, make_person()))
        flash_sale_end(flash_sale=sale, actor=HOST)
        assert shelf(sku) == (10, 1)
        order_allocate(order_no=order.order_no, actor=HOST)
        order_ship(order_no=order.order_no, carrier="顺丰", tracking_no="SF1", actor=HOST)
        assert shelf(sku) == (9, 0)


@pytest.mark.django_db
class TestFlashSaleStart:
    def test_starts_a_running_sale_audited_and_announced(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a live session selling a SKU with 50 in stock
        sku = make_sku(price_fen=2990, stock=50)
        session = make_live_session(sku)
        seen: list[Any] = []
        subscribe(FlashSaleStarted)(seen.append)
        subscribe(FlashSaleStockChanged)(seen.append)
        try:
            # when the host starts a flash sale of 20 at ¥9.90 for 10 minutes
            with django_capture_on_commit_callbacks(execute=True):
                sale = flash_sale_start(
                    session=session,
                    sku=sku,
                    price_fen=990,
                    quantity=20,
                    per_user_limit=2,
                    duration_seconds=600,
                    actor=HOST,
                )
        finally:
            unsubscribe(FlashSaleStarted, seen.append)
            unsubscribe(FlashSaleStockChanged, seen.append)
        # then it runs for 10 minutes, is audited and the room is told
        assert sale.status == FlashSaleStatus.RUNNING
        assert (sale.ends_at - sale.starts_at) == dt.timedelta(minutes=10)
        assert AuditLog.objects.filter(
            action="live.flash_sale.start", target_id=str(sale.pk)
        ).exists()
        assert [type(event).__name__ for event in seen] == [
            "FlashSaleStarted",
            "FlashSaleStockChanged",
        ]
        assert seen[0].session_code == session.code
        assert seen[0].quantity == 20
        assert seen[1].remaining == 20

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"price_fen": 2990}, "秒杀价须低于原价"),
            ({"price_fen": 0}, "秒杀价须低于原价"),
            ({"quantity": 0}, "秒杀数量须至少 1 件"),
            ({"quantity": 51}, "不超过可售库存"),
            ({"per_user_limit": 0}, "每人限购"),
            ({"duration_seconds": 5}, "秒杀时长"),
            ({"quantity": "10"}, "必须是整数"),
        ],
    )
    def test_bad_settings_are_refused_with_nothing_written(
        self, fields: dict[str, Any], message: str
    ) -> None:
        sku = make_sku(price_fen=2990, stock=50)
        session = make_live_session(sku)
        values: dict[str, Any] = {"price_fen": 990, "quantity": 10, "per_user_limit": 1}
        values["duration_seconds"] = 600
        values.update(fields)
        with pytest.raises(FlashSaleInvalid) as caught:
            flash_sale_start(session=session, sku=sku, actor=HOST, **values)
        assert caught.value.status == 422
        assert caught.value.code == "flash_sale_invalid"
        assert message in caught.value.text
        assert not FlashSale.objects.exists()

    def test_one_running_sale_per_sku_per_session(self) -> None:
        sale = make_flash_sale()
        with pytest.raises(FlashSaleAlreadyRunning) as caught:
            flash_sale_start(
                session=sale.session,
                sku=sale.sku,
                price_fen=990,
                quantity=5,
                duration_seconds=60,
                actor=HOST,
            )
        assert caught.value.status == 409
        # a sale whose time ran out does not count
        with clock.frozen(sale.ends_at + dt.timedelta(seconds=1)):
            again = flash_sale_start(
                session=sale.session,
                sku=sale.sku,
                price_fen=990,
                quantity=5,
                duration_seconds=60,
                actor=HOST,
            )
        assert again.pk != sale.pk
        assert fresh(sale).status == FlashSaleStatus.ENDED

    def test_session_must_be_live(self) -> None:
        sale = make_flash_sale()
        live_session_end(session=sale.session, actor=HOST)
        with pytest.raises(FlashSaleSessionNotLive) as caught:
            flash_sale_start(
                session=sale.session,
                sku=sale.sku,
                price_fen=990,
                quantity=5,
                duration_seconds=60,
                actor=HOST,
            )
        assert caught.value.code == "flash_sale_session_not_live"
        # and ending the session ended its sale
        assert fresh(sale).status == FlashSaleStatus.ENDED


@pytest.mark.django_db
class TestFlashSaleBuy:
    def test_holder_pays_the_flash_price_explained_as_such(self) -> None:
        # given a running sale at ¥9.90 of a ¥29.90 SKU
        sale = make_flash_sale(units=10)
        person = make_person()
        # when a viewer buys one
        order = buy(sale, person)
        # then the order is a live order of this session at the flash price, explained
        assert order.channel == "live"
        assert order.source_ref == sale.session.code
        assert order.status == OrderStatus.PENDING_PAYMENT
        assert order.subtotal_fen == 2990
        rows = {row["code"]: row for row in order.price_explanation}
        assert rows["flash_price"]["label"] == "直播秒杀价"
        assert rows["flash_price"]["amount_fen"] == -2000
        assert order.total_fen == 990 + order.shipping_fen
        # and the claim holds the unit
        claim = FlashSaleClaim.objects.get()
        assert (claim.person_id, claim.quantity, claim.order_ref) == (person.pk, 1, order.order_no)
        assert claim.status == ClaimStatus.HELD
        assert fresh(sale).claimed == 1
        assert AuditLog.objects.filter(action="live.flash_sale.claim").count() == 1

    def test_normal_live_checkout_of_the_sku_pays_the_list_price(self) -> None:
        sale = make_flash_sale()
        order = shop_buy(make_person(), (sale.sku, 1), channel="live", source_ref=sale.session.code)
        assert order.subtotal_fen == 2990
        assert "flash_price" not in {row["code"] for row in order.price_explanation}
        assert fresh(sale).claimed == 0

    def test_per_user_limit(self) -> None:
        sale = make_flash_sale(units=10, per_user_limit=2)
        person = make_person()
        buy(sale, person, 1)
        buy(sale, person, 1)
        with pytest.raises(FlashSaleLimitExceeded) as caught:
            buy(sale, person, 1)
        assert caught.value.status == 409
        assert "每人限购 2 件" in caught.value.text
        with pytest.raises(FlashSaleLimitExceeded):
            buy(sale, make_person(), 3)
        assert fresh(sale).claimed == 2

    def test_never_more_than_the_units(self) -> None:
        sale = make_flash_sale(units=3, per_user_limit=2)
        buy(sale, make_person(), 2)
        with pytest.raises(FlashSaleSoldOut) as caught:
            buy(sale, make_person(), 2)
        assert caught.value.code == "flash_sale_sold_out"
        assert caught.value.text == "手慢了，秒杀商品已抢光"
        buy(sale, make_person(), 1)
        with pytest.raises(FlashSaleSoldOut):
            buy(sale, make_person(), 1)
        assert fresh(sale).claimed == 3
        assert Order.objects.count() == 2

    @pytest.mark.parametrize("quantity", [0, -1, True])
    def test_bad_quantity(self, quantity: Any) -> None:
        sale = make_flash_sale()
        with pytest.raises(FlashSaleQuantityInvalid) as caught:
            buy(sale, make_person(), quantity)
        assert caught.value.status == 422
        assert caught.value.text == "购买数量须为正整数"

    def test_ended_sale_refuses(self) -> None:
        sale = make_flash_sale()
        flash_sale_end(flash_sale=sale, actor=HOST)
        with pytest.raises(FlashSaleNotOpen) as caught:
            buy(sale, make_person())
        assert caught.value.status == 409
        assert caught.value.text == "秒杀已结束"

    def test_the_gate_refuses_after_ends_at_before_any_job_ran(self) -> None:
        sale = make_flash_sale(duration_seconds=60)
        with clock.frozen(sale.ends_at), pytest.raises(FlashSaleNotOpen):
            buy(sale, make_person())
        assert fresh(sale).status == FlashSaleStatus.RUNNING  # not closed yet, still refused
        assert flash_sales_close_due(now=sale.ends_at) == [sale.pk]
        assert fresh(sale).status == FlashSaleStatus.ENDED

    def test_failed_order_gives_the_units_back(self) -> None:
        # given a sale with no block (its units sit in two warehouses) whose shelf was sold
        # out elsewhere meanwhile
        sku = make_sku(price_fen=2990)
        for code, province in (("sh", "上海"), ("bj", "北京")):
            stock_receive(
                sku=sku, warehouse=make_warehouse(code, province=province), quantity=3, actor=HOST
            )
        sale = start_sale(sku, units=5)
        shop_buy(make_person(), (sku, 3))
        shop_buy(make_person(), (sku, 3))
        # when a viewer wins the gate but the order cannot reserve stock
        with pytest.raises(DomainError) as caught:
            buy(sale, make_person())
        # then nothing is claimed and nothing half-written
        assert caught.value.code == "out_of_stock"
        assert fresh(sale).claimed == 0
        assert not FlashSaleClaim.objects.exists()

    def test_bad_address_leaves_nothing(self) -> None:
        sale = make_flash_sale()
        from freshloop.live.flash_sale.services import flash_sale_buy

        with pytest.raises(DomainError) as caught:
            flash_sale_buy(flash_sale=sale, person=make_person(), quantity=1, address={})
        assert caught.value.code == "address_invalid"
        assert fresh(sale).claimed == 0

    def test_retry_with_the_same_key_returns_the_same_order(self) -> None:
        sale = make_flash_sale(per_user_limit=2)
        person = make_person()
        first = buy(sale, person, key="tap-1")
        again = buy(sale, person, key="tap-1")
        assert again.pk == first.pk
        assert fresh(sale).claimed == 1
        assert FlashSaleClaim.objects.count() == 1


@pytest.mark.django_db
class TestClaimsFollowTheirOrder:
    def test_unpaid_timeout_releases_the_units_for_others(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a sale of one unit, claimed and not paid
        sale = make_flash_sale(units=1)
        with django_capture_on_commit_callbacks(execute=True):
            order = buy(sale, make_person())
        with pytest.raises(FlashSaleSoldOut):
            buy(sale, make_person())
        # when the payment deadline passes and the expiry job runs
        with django_capture_on_commit_callbacks(execute=True):
            expired = orders_expire_unpaid(now=clock.now() + dt.timedelta(minutes=16))
        # then the claim is released and someone else can buy
        assert expired == [order.order_no]
        assert FlashSaleClaim.objects.get(order_ref=order.order_no).status == ClaimStatus.RELEASED
        assert fresh(sale).claimed == 0
        later = buy(sale, make_person())
        assert later.total_fen == 990 + later.shipping_fen
        assert fresh(sale).claimed == 1

    def test_release_is_idempotent(self, django_capture_on_commit_callbacks: Any) -> None:
        from freshloop.live.flash_sale.claims import flash_sale_claims_release

        sale = make_flash_sale(units=2)
        order = buy(sale, make_person())
        with django_capture_on_commit_callbacks(execute=True):
            order_cancel(order_no=order.order_no, reason="顾客取消", actor=HOST)
        again = flash_sale_claims_release(order_no=order.order_no, actor=HOST)
        assert again == []
        assert fresh(sale).claimed == 0

    def test_paid_order_makes_the_claim_paid(self, django_capture_on_commit_callbacks: Any) -> None:
        sale = make_flash_sale(units=2)
        order = buy(sale, make_person())
        with django_capture_on_commit_callbacks(execute=True):
            pay(order)
        sale = fresh(sale)
        assert (sale.claimed, sale.paid) == (1, 1)
        assert FlashSaleClaim.objects.get().status == ClaimStatus.PAID
        # a paid claim still counts against the limit
        with pytest.raises(FlashSaleLimitExceeded):
            buy(sale, order.person)

    def test_reconcile_repairs_claims_whose_event_was_missed(self) -> None:
        # given orders cancelled and paid without their events reaching the flash-sale module
        # (no on-commit callbacks run in this test)
        sale = make_flash_sale(units=3)
        cancelled = buy(sale, make_person())
        paid = buy(sale, make_person())
        order_cancel(order_no=cancelled.order_no, reason="顾客取消", actor=HOST)
        pay(paid)
        assert fresh(sale).claimed == 2
        # when reconciliation runs
        report = flash_sale_reconcile()
        # then the claims follow their orders
        assert report.claims_released == [cancelled.order_no]
        assert report.claims_paid == [paid.order_no]
        sale = fresh(sale)
        assert (sale.claimed, sale.paid) == (1, 1)
        assert flash_sale_reconcile().claims_released == []


@pytest.mark.django_db
class TestFlashSaleEnd:
    def test_end_is_audited_and_idempotent(self) -> None:
        sale = make_flash_sale()
        ended = flash_sale_end(flash_sale=sale, actor=HOST)
        assert ended.status == FlashSaleStatus.ENDED
        assert ended.ends_at <= clock.now()
        flash_sale_end(flash_sale=ended, actor=HOST)
        assert AuditLog.objects.filter(action="live.flash_sale.end").count() == 1


@pytest.mark.django_db
class TestPersonFollowsMerge:
    def test_claims_move_to_the_survivor_and_are_exported(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        from freshloop.core.events import publish

        sale = make_flash_sale(per_user_limit=1)
        old, survivor = make_person(), make_person()
        buy(sale, old)
        # the merge's handlers are durable effects, delivered once its transaction commits
        with django_capture_on_commit_callbacks(execute=True):
            publish(
                IdentityMerged(
                    from_person_id=old.pk,
                    into_person_id=survivor.pk,
                    from_one_id=old.one_id,
                    into_one_id=survivor.one_id,
                    reason="test",
                )
            )
        assert FlashSaleClaim.objects.get().person_id == survivor.pk
        with pytest.raises(FlashSaleLimitExceeded):
            buy(sale, survivor)
        export = person_export(actor=Actor.system("tests"), one_id=survivor.one_id)
        assert export["sections"]["flash_sale_claims"][0]["quantity"] == 1
