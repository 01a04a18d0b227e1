"""FEFO done right (issue 16): reservation counts only lots fresh enough for the order's
channel, picking never takes an expired or too-short lot, a shortfall is an error, lots
chosen by allocation are the ones shipped, and allocation moves reservations atomically."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from freshloop.catalog.models import Batch, Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput
from freshloop.inventory.errors import LotShortfall, OutOfStock
from freshloop.inventory.freshness import fefo_pick, min_remaining_days
from freshloop.inventory.models import (
    BatchStock,
    MovementKind,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Warehouse,
)
from freshloop.inventory.services import (
    Placement,
    ReservationRequest,
    lot_hold,
    reservations_move,
    reservations_ship,
    stock_block_reserve,
    stock_receive,
    stock_reserve,
)
from tests.factories import make_sku, make_warehouse

pytestmark = pytest.mark.django_db
Stocked = tuple[Sku, Warehouse, Batch, Batch, Batch]
Two = tuple[Sku, Warehouse, Warehouse]
OPERATOR = Actor(type="user", id="1", label="仓管小李")
TODAY = dt.date(2026, 12, 1)  # Shanghai date while the clock is frozen below


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with clock.frozen(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)):
        yield


def lot(sku: Sku, warehouse: Warehouse, *, expires_in: int, units: int, no: str) -> Batch:
    """`units` of a lot of `sku` (7-day shelf life) expiring `expires_in` days from today."""
    expires = TODAY + dt.timedelta(days=expires_in)
    batch = batch_register(
        sku=sku, batch_no=no, produced_on=expires - dt.timedelta(days=7), expires_on=expires
    )
    stock_receive(sku=sku, warehouse=warehouse, quantity=units, actor=OPERATOR, batch=batch)
    return batch


def reserve(order_ref: str, sku: Sku, quantity: int, channel: str) -> list[Reservation]:
    with transaction.atomic():
        return stock_reserve(
            order_ref=order_ref,
            requests=[ReservationRequest(sku=sku, quantity=quantity)],
            expires_at=None,
            channel=channel,
        )


def units_of(batch: Batch) -> int:
    return BatchStock.objects.get(batch=batch).quantity


@pytest.fixture
def stocked() -> tuple[Sku, Warehouse, Batch, Batch, Batch]:
    """13 units: an expired lot (5), one with 4 of 7 days left (5: group buying may sell it,
    4/7 ≥ 1/2; the shop may not, < 2/3) and a fresh one with 6 days left (3)."""
    sku = make_sku()
    warehouse = make_warehouse()
    lot(sku, warehouse, expires_in=-1, units=5, no="EXPIRED")
    short = lot(sku, warehouse, expires_in=4, units=5, no="SHORT")
    fresh = lot(sku, warehouse, expires_in=6, units=3, no="FRESH")
    return sku, warehouse, short, fresh, Batch.objects.get(batch_no="EXPIRED")


class TestFreshness:
    def test_minimum_days_by_channel(self) -> None:
        assert min_remaining_days(channel="shop", shelf_life_days=7) == 5  # ceil(14/3)
        assert min_remaining_days(channel="groupbuy", shelf_life_days=7) == 4  # ceil(3.5)
        assert min_remaining_days(channel="", shelf_life_days=7) == 1  # never expiring today

    def test_a_product_can_have_its_own_minimum(self, settings: pytest.FixtureRequest) -> None:
        settings.FRESHLOOP_SHELF_LIFE_MIN_RATIO_BY_PRODUCT = {"yogurt": {"shop": 0.5}}  # type: ignore[attr-defined]
        assert min_remaining_days(channel="shop", shelf_life_days=10, product_code="yogurt") == 5
        assert min_remaining_days(channel="shop", shelf_life_days=10, product_code="milk") == 7


class TestReservationCountsOnlyFreshLots:
    def test_the_shop_may_only_reserve_the_fresh_lot(self, stocked: Stocked) -> None:
        sku, *_ = stocked
        # given 13 on hand, only 3 fresh enough for the shop
        with pytest.raises(OutOfStock):
            reserve("O-1", sku, 4, "shop")
        assert reserve("O-2", sku, 3, "shop")
        assert StockLevel.objects.get(sku=sku).reserved == 3

    def test_group_buying_may_also_reserve_the_half_fresh_lot(self, stocked: Stocked) -> None:
        sku, *_ = stocked
        assert reserve("O-1", sku, 8, "groupbuy")
        with pytest.raises(OutOfStock):
            reserve("O-2", sku, 1, "groupbuy")

    def test_units_in_no_lot_count(self, stocked: Stocked) -> None:
        sku, warehouse, *_ = stocked
        stock_receive(sku=sku, warehouse=warehouse, quantity=2, actor=OPERATOR)
        assert reserve("O-1", sku, 5, "shop")


class TestPicking:
    def test_shipping_skips_expired_and_too_short_lots(self, stocked: Stocked) -> None:
        sku, _, short, fresh, expired = stocked
        reserve("O-1", sku, 2, "shop")
        with transaction.atomic():
            reservations_ship(order_ref="O-1", channel="shop")
        assert (units_of(expired), units_of(short), units_of(fresh)) == (5, 5, 1)

    def test_group_buying_takes_the_earliest_lot_it_may(self, stocked: Stocked) -> None:
        sku, _, short, fresh, expired = stocked
        reserve("O-1", sku, 6, "groupbuy")
        with transaction.atomic():
            reservations_ship(order_ref="O-1", channel="groupbuy")
        assert (units_of(expired), units_of(short), units_of(fresh)) == (5, 0, 2)

    def test_a_shortfall_raises_and_ships_nothing(self, stocked: Stocked) -> None:
        sku, _, _, fresh, _ = stocked
        reserve("O-1", sku, 3, "shop")
        # when the fresh lot ages past the shop's minimum before the order ships
        later = dt.datetime(2026, 12, 3, 2, tzinfo=dt.UTC)
        with clock.frozen(later), pytest.raises(LotShortfall), transaction.atomic():
            reservations_ship(order_ref="O-1", channel="shop")
        # then nothing moved: the reservation is still active, the lots untouched
        assert Reservation.objects.get(order_ref="O-1").status == ReservationStatus.ACTIVE
        assert StockLevel.objects.get(sku=sku).on_hand == 13
        assert units_of(fresh) == 3

    def test_lots_picked_by_allocation_are_the_ones_shipped(self, stocked: Stocked) -> None:
        sku, warehouse, short, fresh, _ = stocked
        reserve("O-1", sku, 2, "groupbuy")
        with transaction.atomic():
            reservations_ship(
                order_ref="O-1",
                channel="groupbuy",
                lot_picks={(warehouse.pk, sku.pk): [(fresh.pk, 2)]},
            )
        assert (units_of(short), units_of(fresh)) == (5, 1)

    def test_a_picked_lot_without_the_units_raises(self, stocked: Stocked) -> None:
        sku, warehouse, _, fresh, _ = stocked
        reserve("O-1", sku, 2, "groupbuy")
        BatchStock.objects.filter(batch=fresh).update(quantity=1)
        with pytest.raises(LotShortfall), transaction.atomic():
            reservations_ship(order_ref="O-1", lot_picks={(warehouse.pk, sku.pk): [(fresh.pk, 2)]})


lots_strategy = st.lists(st.tuples(st.integers(-3, 10), st.integers(0, 6)), min_size=0, max_size=6)


class TestFefoPickProperty:
    @settings(max_examples=200, deadline=None)
    @given(lots=lots_strategy, untracked=st.integers(0, 3), quantity=st.integers(1, 12))
    def test_never_an_expired_or_too_short_lot_and_a_shortfall_raises(
        self, lots: list[tuple[int, int]], untracked: int, quantity: int
    ) -> None:
        min_expiry = TODAY + dt.timedelta(days=5)
        stock = [
            BatchStock(
                pk=index + 1,
                batch=Batch(pk=index + 1, sku_id=1, expires_on=TODAY + dt.timedelta(days=days)),
                quantity=units,
            )
            for index, (days, units) in enumerate(lots)
        ]
        eligible = sum(s.quantity for s in stock if s.batch.expires_on >= min_expiry)
        if eligible + untracked < quantity:
            with pytest.raises(LotShortfall):
                fefo_pick(lots=stock, untracked=untracked, quantity=quantity, min_expiry=min_expiry)
            return
        picks, from_untracked = fefo_pick(
            lots=stock, untracked=untracked, quantity=quantity, min_expiry=min_expiry
        )
        assert all(s.batch.expires_on >= min_expiry for s, _ in picks)
        assert sum(units for _, units in picks) + from_untracked == quantity
        # first expiry first: a later lot is only touched once every earlier one is empty
        expiries = [s.batch.expires_on for s, _ in picks]
        assert expiries == sorted(expiries)
        assert all(units == s.quantity for s, units in picks[:-1])


class TestReservationsMove:
    @pytest.fixture
    def two(self) -> tuple[Sku, Warehouse, Warehouse]:
        sh = make_warehouse("sh", province="上海")
        bj = make_warehouse("bj", province="北京")
        sku = make_sku(stock=5, warehouse=sh)
        stock_receive(sku=sku, warehouse=bj, quantity=5, actor=OPERATOR)
        return sku, sh, bj

    def reserved(self, sku: Sku, warehouse: Warehouse) -> int:
        return StockLevel.objects.get(sku=sku, warehouse=warehouse).reserved

    def test_moves_units_to_the_chosen_warehouses(self, two: Two) -> None:
        sku, sh, bj = two
        reserve("O-1", sku, 3, "shop")
        assert (self.reserved(sku, sh), self.reserved(sku, bj)) in {(3, 0), (0, 3)}
        reservations_move(
            order_ref="O-1",
            placements=[Placement(sku.pk, sh.pk, 1), Placement(sku.pk, bj.pk, 2)],
            actor=OPERATOR,
            channel="shop",
        )
        assert (self.reserved(sku, sh), self.reserved(sku, bj)) == (1, 2)
        active = Reservation.objects.filter(order_ref="O-1", status=ReservationStatus.ACTIVE)
        assert sorted((r.stock.warehouse_id, r.quantity) for r in active) == [
            (sh.pk, 1),
            (bj.pk, 2),
        ]
        notes = set(StockMovement.objects.filter(ref="O-1").values_list("kind", "note"))
        assert (MovementKind.RELEASE, "分仓调拨") in notes
        assert (MovementKind.RESERVE, "分仓调拨") in notes

    def test_moving_again_to_the_same_places_changes_nothing(self, two: Two) -> None:
        sku, _, _ = two
        reserve("O-1", sku, 2, "shop")
        where = Reservation.objects.get(order_ref="O-1").stock.warehouse_id
        before = StockMovement.objects.count()
        reservations_move(order_ref="O-1", placements=[Placement(sku.pk, where, 2)], actor=OPERATOR)
        assert StockMovement.objects.count() == before

    def test_a_different_quantity_is_refused(self, two: Two) -> None:
        sku, sh, _ = two
        reserve("O-1", sku, 2, "shop")
        with pytest.raises(InvalidInput):
            reservations_move(
                order_ref="O-1", placements=[Placement(sku.pk, sh.pk, 3)], actor=OPERATOR
            )

    def test_a_warehouse_without_the_units_rolls_everything_back(self, two: Two) -> None:
        sku, sh, bj = two
        # given O-1 holds 4 in 上海 and O-2 holds 4 in 北京 (1 left there)
        reserve("O-1", sku, 4, "shop")
        reserve("O-2", sku, 4, "shop")
        assert (self.reserved(sku, sh), self.reserved(sku, bj)) == (4, 4)
        # when O-1 is moved 2 + 2 — but 北京 has only 1 free
        with pytest.raises(OutOfStock):
            reservations_move(
                order_ref="O-1",
                placements=[Placement(sku.pk, sh.pk, 2), Placement(sku.pk, bj.pk, 2)],
                actor=OPERATOR,
            )
        # then nothing moved
        assert (self.reserved(sku, sh), self.reserved(sku, bj)) == (4, 4)
        (kept,) = Reservation.objects.filter(order_ref="O-1", status=ReservationStatus.ACTIVE)
        assert (kept.stock.warehouse_id, kept.quantity) == (sh.pk, 4)

    def test_units_drawn_from_a_flash_sale_block_leave_the_block(self, two: Two) -> None:
        sku, sh, bj = two
        block = stock_block_reserve(block_ref="FS-1", sku=sku, quantity=4, actor=OPERATOR)
        assert block is not None
        source = block.stock.warehouse
        other = bj if source == sh else sh
        with transaction.atomic():
            stock_reserve(
                order_ref="O-1",
                requests=[ReservationRequest(sku=sku, quantity=1, block_ref="FS-1")],
                expires_at=None,
            )
        reservations_move(
            order_ref="O-1", placements=[Placement(sku.pk, other.pk, 1)], actor=OPERATOR
        )
        block.refresh_from_db()
        # the block shrank by the unit that left it; the block's level no longer holds it
        assert block.quantity == 3
        assert (self.reserved(sku, source), self.reserved(sku, other)) == (3, 1)


class TestLotHold:
    """A recalled lot stays on hand but is never reserved, picked or shipped."""

    def test_a_held_lot_is_not_reservable(self, stocked: Stocked) -> None:
        sku, _, _, fresh, _ = stocked
        # given the fresh lot (the only one the shop may sell) put on hold
        held = lot_hold(batch_id=fresh.pk, reason="召回：抽检不合格", actor=OPERATOR)
        # then its units are held, still on hand, and the shop can reserve nothing
        assert held == 3
        assert BatchStock.objects.get(batch=fresh).on_hold
        assert StockLevel.objects.get(sku=sku).on_hand == 13
        with pytest.raises(OutOfStock):
            reserve("O-1", sku, 1, "shop")
        # and group buying only the short lot
        assert reserve("O-2", sku, 5, "groupbuy")
        with pytest.raises(OutOfStock):
            reserve("O-3", sku, 1, "groupbuy")

    def test_picking_skips_a_lot_held_after_the_reservation(self, stocked: Stocked) -> None:
        sku, _, short, fresh, expired = stocked
        # given group buying reserved 2 (FEFO would take the short lot) and that lot is recalled
        reserve("O-1", sku, 2, "groupbuy")
        lot_hold(batch_id=short.pk, reason="召回", actor=OPERATOR)
        # when the order ships
        with transaction.atomic():
            reservations_ship(order_ref="O-1", channel="groupbuy")
        # then the units come from the fresh lot, never the held one
        assert (units_of(expired), units_of(short), units_of(fresh)) == (5, 5, 1)

    def test_an_allocated_pick_of_a_held_lot_is_a_shortfall(self, stocked: Stocked) -> None:
        sku, warehouse, _, fresh, _ = stocked
        reserve("O-1", sku, 1, "shop")
        lot_hold(batch_id=fresh.pk, reason="召回", actor=OPERATOR)
        with pytest.raises(LotShortfall), transaction.atomic():
            reservations_ship(
                order_ref="O-1",
                channel="shop",
                lot_picks={(warehouse.pk, sku.pk): [(fresh.pk, 1)]},
            )
        assert units_of(fresh) == 3

    def test_holding_twice_holds_nothing_more_and_keeps_the_first_reason(
        self, stocked: Stocked
    ) -> None:
        _, _, _, fresh, _ = stocked
        assert lot_hold(batch_id=fresh.pk, reason="召回", actor=OPERATOR) == 3
        assert lot_hold(batch_id=fresh.pk, reason="再次", actor=OPERATOR) == 0
        assert BatchStock.objects.get(batch=fresh).hold_reason == "召回"
