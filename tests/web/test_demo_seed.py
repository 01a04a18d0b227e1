from __future__ import annotations

import datetime as dt
import itertools
import shutil
import statistics
from collections import defaultdict
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection

from freshloop.catalog.models import Batch, Product, ProductImage, Sku, StorageCondition
from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.datahub.dashboards.schemas import dashboard_filter_parse
from freshloop.datahub.dashboards.selectors import dashboard_repurchase, dashboard_retention
from freshloop.fulfillment.models import (
    AfterSalesRule,
    Allocation,
    AllocationStatus,
    AutoDecision,
    Carrier,
    CarrierRate,
    DecisionStatus,
    Excursion,
    Shipment,
    ShipmentEvent,
    ShipmentStatus,
    SkuWeight,
    TelemetryDevice,
    TemperatureReading,
)
from freshloop.fulfillment.shipments import sandbox_carrier_tick
from freshloop.groupbuy.deals.models import DealGroup, GroupDeal
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.presale.models import Presale, PresaleStatus
from freshloop.groupbuy.training.models import TrainingCourse
from freshloop.identity.models import (
    Identifier,
    IdentityConflict,
    MatchCandidate,
    Person,
    PersonStatus,
)
from freshloop.inventory.models import BatchStock, StockLevel, StockMovement, Warehouse
from freshloop.live.models import LiveProduct, LiveSession, LiveStatus
from freshloop.live.streams.selectors import DEMO_STREAM, hls_root
from freshloop.membership.models import PointsEntry, PointsKind
from freshloop.orders.models import Order, OrderLine, OrderStatus
from freshloop.promotions.models import Campaign, Coupon, CouponTemplate, RedeemCode
from freshloop.web import demo_commerce, demo_fulfillment, demo_live
from freshloop.web.demo_live import NOW_TITLE

WAREHOUSES = {"sh-qingpu", "gz-baiyun", "bj-daxing"}
COUPON_TEMPLATES = {"welcome-10", "milk-99-20", "member-88", "free-ship", "live-friday-15"}
CAMPAIGNS = {"winter-tiers", "live-milk-flash"}
HISTORY = f"{demo_commerce.IMPORT_PREFIX}_"
MILK = {"fresh-milk"}
RICE = {"indica-rice", "japonica-rice"}


def _seed(**options: object) -> str:
    out = StringIO()
    call_command("demo_seed", stdout=out, **options)
    return out.getvalue()


def _counts() -> dict[str, int]:
    """Every table the seed writes to that a duplicate would show up in."""
    return {
        "skus": Sku.objects.count(),
        "product_images": ProductImage.objects.count(),
        "warehouses": Warehouse.objects.count(),
        "users": User.objects.count(),
        "people": Person.objects.count(),
        "identifiers": Identifier.objects.count(),
        "conflicts": IdentityConflict.objects.count(),
        "match_candidates": MatchCandidate.objects.count(),
        "lots": Batch.objects.count(),
        "lot_stock": BatchStock.objects.count(),
        "stock_levels": StockLevel.objects.count(),
        "stock_movements": StockMovement.objects.count(),
        "coupon_templates": CouponTemplate.objects.count(),
        "redeem_codes": RedeemCode.objects.count(),
        "coupons": Coupon.objects.count(),
        "campaigns": Campaign.objects.count(),
        "orders": Order.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "points_entries": PointsEntry.objects.count(),
        "live_sessions": LiveSession.objects.count(),
        "live_products": LiveProduct.objects.count(),
        "carriers": Carrier.objects.count(),
        "carrier_rates": CarrierRate.objects.count(),
        "sku_weights": SkuWeight.objects.count(),
        "aftersales_rules": AfterSalesRule.objects.count(),
        "devices": TelemetryDevice.objects.count(),
        "allocations": Allocation.objects.count(),
        "shipments": Shipment.objects.count(),
        "shipment_events": ShipmentEvent.objects.count(),
        "readings": TemperatureReading.objects.count(),
        "excursions": Excursion.objects.count(),
        "auto_decisions": AutoDecision.objects.count(),
        "group_leaders": GroupLeader.objects.count(),
        "group_deals": GroupDeal.objects.count(),
        "deal_groups": DealGroup.objects.count(),
        "presales": Presale.objects.count(),
        "training_courses": TrainingCourse.objects.count(),
    }


def _assert_stock_in_every_warehouse() -> None:
    """Two lots per SKU, each received into every warehouse that can store the product."""
    warehouses = {w.code: w for w in Warehouse.objects.all()}
    assert set(warehouses) == WAREHOUSES
    skus = list(Sku.objects.select_related("product"))
    for sku in skus:
        assert sku.batches.count() == 2, sku.code
    for code, warehouse in warehouses.items():
        stocked = StockLevel.objects.filter(warehouse=warehouse, on_hand__gt=0)
        storable = [sku for sku in skus if warehouse.can_store(sku.product.storage)]
        assert stocked.count() == len(storable) > 0, code
        assert BatchStock.objects.filter(warehouse=warehouse, quantity__gt=0).count() == 2 * len(
            storable
        )
    # Beijing's warehouse has no freezer: frozen food is stocked only where it can be kept.
    frozen = StockLevel.objects.filter(sku__product__storage=StorageCondition.FROZEN, on_hand__gt=0)
    assert frozen.exists()
    assert set(frozen.values_list("warehouse__code", flat=True)) == {"sh-qingpu", "gz-baiyun"}
    # and every unit on hand sits in a lot (the stock levels and the lots agree)
    for level in StockLevel.objects.all():
        in_lots = sum(
            BatchStock.objects.filter(batch__sku=level.sku, warehouse=level.warehouse).values_list(
                "quantity", flat=True
            )
        )
        assert level.on_hand == in_lots


def _assert_promotions(people: int) -> None:
    now = clock.now()
    assert set(CouponTemplate.objects.values_list("code", flat=True)) >= COUPON_TEMPLATES
    assert set(RedeemCode.objects.values_list("code", flat=True)) >= {"FRESH2026", "VIP88"}
    for template in ("milk-99-20", "free-ship"):  # handed to every demo consumer
        assert Coupon.objects.filter(template__code=template).count() == people
    running = Campaign.objects.filter(starts_at__lte=now, ends_at__gt=now, is_active=True)
    assert set(running.values_list("code", flat=True)) >= CAMPAIGNS


def _orders_by_person(categories: set[str]) -> dict[int, list[dt.datetime]]:
    """Order times per person, of history orders with a line in one of `categories`."""
    times: dict[int, set[tuple[int, dt.datetime]]] = defaultdict(set)
    for person_id, order_id, created_at in OrderLine.objects.filter(
        order__order_no__startswith=HISTORY, sku__product__category__code__in=categories
    ).values_list("order__person_id", "order_id", "order__created_at"):
        times[person_id].add((order_id, created_at))
    return {person: sorted(at for _, at in orders) for person, orders in times.items()}


def _median_gap_days(times: list[dt.datetime]) -> float:
    return statistics.median(
        (later - earlier).total_seconds() / 86400 for earlier, later in itertools.pairwise(times)
    )


def _assert_history(people: int) -> None:
    """~10 orders per consumer over 18 months, with the habits the data hub's tags look for."""
    now = clock.now()
    history = Order.objects.filter(order_no__startswith=HISTORY)
    assert 8 * people <= history.count() <= 13 * people
    assert set(history.values_list("status", flat=True)) == {OrderStatus.COMPLETED}
    assert set(history.values_list("channel", flat=True)) == {"shop", "live", "groupbuy"}
    times = sorted(history.values_list("created_at", flat=True))
    window = dt.timedelta(days=demo_commerce.HISTORY_MONTHS * 30 + 1)
    assert now - window <= times[0] <= now - dt.timedelta(days=15 * 30)
    assert now - dt.timedelta(days=14) <= times[-1] < now
    # Each history order earned its points, once.
    earned = PointsEntry.objects.filter(kind=PointsKind.EARN, ref__startswith=HISTORY)
    assert earned.count() == history.count()
    # A live order points at that week's Friday session.
    for ref in history.filter(channel="live").values_list("source_ref", flat=True)[:200]:
        assert dt.datetime.strptime(ref.removeprefix("LIVE-"), "%Y%m%d").weekday() == 4, ref

    # Weekly milk buyers: a year or more of milk about every seven days.
    weekly = [
        person
        for person, at in _orders_by_person(MILK).items()
        if len(at) >= 40 and 5 <= _median_gap_days(at) <= 9
    ]
    assert weekly
    # Occasional rice buyers: rice again and again, but a month or more apart.
    occasional = [
        person
        for person, at in _orders_by_person(RICE).items()
        if len(at) >= 3 and _median_gap_days(at) >= 45
    ]
    assert occasional
    # Lapsed customers: regulars once (five orders or more), nothing in the last six months.
    last_order: dict[int, tuple[int, dt.datetime]] = {}
    for person_id, created_at in history.values_list("person_id", "created_at"):
        count, latest = last_order.get(person_id, (0, created_at))
        last_order[person_id] = (count + 1, max(latest, created_at))
    lapsed = [
        person
        for person, (count, latest) in last_order.items()
        if count >= 5 and latest < now - dt.timedelta(days=180)
    ]
    assert lapsed
    assert not set(lapsed) & set(weekly)
    # New customers arrive all along: the dashboard's default window (the last 30 days) and
    # each of the last four months have first orders in them.
    firsts = sorted(_first_orders().values())
    assert sum(1 for first in firsts if first >= now - dt.timedelta(days=30)) >= 12
    for months_back in range(4):
        end = now - dt.timedelta(days=30 * months_back)
        assert any(end - dt.timedelta(days=30) <= first < end for first in firsts), months_back


def _first_orders() -> dict[int, dt.datetime]:
    firsts: dict[int, dt.datetime] = {}
    for person_id, created_at in Order.objects.filter(order_no__startswith=HISTORY).values_list(
        "person_id", "created_at"
    ):
        firsts[person_id] = min(created_at, firsts.get(person_id, created_at))
    return firsts


def _assert_live_room(output: str) -> None:
    """The weekly session is live with the milk pinned; next week's is open for reservations."""
    now = clock.now()
    current = LiveSession.objects.get(title=demo_live.NOW_TITLE)
    assert current.status == LiveStatus.LIVE
    assert current.started_at is not None
    assert current.started_at <= now
    assert current.ended_at is None
    products = list(current.products.select_related("sku").order_by("sort_order", "pk"))
    assert [p.sku.code for p in products] == demo_live.LIVE_SKUS
    pinned = [p for p in products if p.pinned_at is not None]
    assert [p.sku.code for p in pinned] == ["milk-pasture-950x2"]
    assert list(current.coupon_templates.values_list("code", flat=True)) == ["live-friday-15"]
    upcoming = LiveSession.objects.get(title=demo_live.NEXT_TITLE)
    assert upcoming.status == LiveStatus.SCHEDULED
    assert now + dt.timedelta(days=6) < upcoming.scheduled_at < now + dt.timedelta(days=8)
    assert upcoming.products.count() == len(demo_live.LIVE_SKUS)
    assert f"/m/live/{current.code}" in output
    # The HLS test stream is encoded when ffmpeg is installed (the room shows the cover if not).
    if shutil.which("ffmpeg"):
        assert "HLS test stream ready" in output
        assert (hls_root() / DEMO_STREAM / "index.m3u8").is_file()
    else:
        assert "no ffmpeg" in output


@pytest.mark.django_db
class TestDemoSeed:
    def test_full_brand(self) -> None:
        # when the demo brand is seeded with its defaults
        output = _seed()
        # then it has the catalog, the warehouses, a login for every role and 500 consumers
        assert Sku.objects.count() >= 40
        storage = {
            w.code: (w.supports_ambient, w.supports_chilled, w.supports_frozen)
            for w in Warehouse.objects.all()
        }
        assert storage == {
            "sh-qingpu": (True, True, True),
            "gz-baiyun": (True, True, True),
            "bj-daxing": (True, True, False),
        }
        for role in Role:
            user = User.objects.get(username=role.value)
            assert user.groups.filter(name=role.value).exists()
            assert user.check_password("freshloop-demo")
        consumers = Person.objects.filter(source="demo_seed", status=PersonStatus.ACTIVE)
        assert consumers.count() == 500
        provinces = {person.traits["province"] for person in consumers}
        assert len(provinces) >= 15
        # and the OneID back office has something to show
        assert IdentityConflict.objects.exists()
        assert Person.objects.filter(status=PersonStatus.MERGED).exists()
        assert MatchCandidate.objects.exists()
        assert "freshloop-demo" in output
        # and the shop has stock, coupons and campaigns, and 18 months of ~5,000 orders
        people = len(demo_commerce.demo_people())
        _assert_stock_in_every_warehouse()
        _assert_promotions(people)
        _assert_history(people)
        assert 4_000 <= Order.objects.filter(order_no__startswith=HISTORY).count() <= 6_500
        # and the data hub dashboard's default window (the last 30 days) has new customers to
        # follow: a repurchase cohort and retention cohorts with people in them
        default = dashboard_filter_parse({})
        repurchase = dashboard_repurchase(default)
        assert repurchase["cohort"] >= 12
        assert not repurchase["empty"]
        retention = dashboard_retention(default)
        assert not retention["empty"]
        assert any(row["size"] >= 5 for row in retention["cohorts"])
        # and the live room is on air
        _assert_live_room(output)

    def test_without_history(self) -> None:
        # when the demo is seeded small and without its order history
        output = _seed(consumers=20, no_history=True)
        # then every product has its drawn picture, in all its sizes, and the room a cover
        assert set(Product.objects.values_list("pk", flat=True)) == set(
            ProductImage.objects.values_list("product_id", flat=True)
        )
        picture = ProductImage.objects.first()
        assert picture is not None
        assert default_storage.exists(picture.webp_400.name)
        assert default_storage.exists(picture.jpeg_1080.name)
        assert picture.width == 1080
        assert LiveSession.objects.filter(cover_url__startswith="/media/live/").exists()
        # then there are no orders, and everything else is there
        assert not Order.objects.exists()
        assert ", 0 historical orders imported" in output
        _assert_stock_in_every_warehouse()
        _assert_promotions(len(demo_commerce.demo_people()))
        _assert_live_room(output)

    def test_running_twice_duplicates_nothing_and_keeps_passwords(self) -> None:
        _seed(consumers=50)
        before = _counts()
        # group buying: a leader, a deal with the leader's group, a presale in the live room
        assert (before["group_leaders"], before["group_deals"], before["deal_groups"]) == (1, 1, 1)
        assert TrainingCourse.objects.get().is_published
        presale = Presale.objects.get()
        assert presale.status == PresaleStatus.DEPOSIT_OPEN
        assert presale.live_session_code == LiveSession.objects.get(title=NOW_TITLE).code
        assert before["orders"] > 0
        assert before["lots"] > 0
        assert before["live_sessions"] == 2
        admin = User.objects.get(username="admin")
        admin.set_password("changed-by-the-operator")
        admin.save()
        output = _seed(consumers=50)
        assert _counts() == before
        admin.refresh_from_db()
        assert admin.check_password("changed-by-the-operator")
        assert "(unchanged)" in output
        assert (
            ", 0 stock receipts (new), 0 coupon templates and 0 campaigns (new), "
            "0 historical orders imported"
        ) in output
        assert "fulfillment 0 carriers new" in output
        assert "0 after-sales rules new" in output
        assert "0 demo orders new" in output

    def test_running_again_on_another_day_adds_no_lots_or_stock(self) -> None:
        # given the demo seeded yesterday (its lot numbers carry the production date)
        with clock.frozen(clock.now() - dt.timedelta(days=1)):
            _seed(consumers=10, no_history=True)
        before = _counts()
        # when it is seeded again today
        _seed(consumers=10, no_history=True)
        # then nothing is added, and the session seeded yesterday is still the one on air
        assert _counts() == before
        assert LiveSession.objects.get(title=demo_live.NOW_TITLE).status == LiveStatus.LIVE

    def test_phones_are_not_stored_in_clear(self) -> None:
        _seed(consumers=20)
        phones = [i.value for i in Identifier.objects.filter(type="phone")]
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM identity_identifier")
            raw = " ".join(row[0] for row in cursor.fetchall())
        assert phones
        assert not any(phone.removeprefix("+86") in raw for phone in phones)


DEMO_ORDERS = Shipment.objects.filter(
    order__idempotency_key__startswith=demo_fulfillment.KEY_PREFIX
)


@pytest.mark.django_db
class TestDemoFulfillment:
    def test_carriers_rules_and_parcels_through_the_real_flow(self) -> None:
        # when the demo brand is seeded (small, with orders)
        output = _seed(consumers=30)
        # then four carriers have a default rate row, dearer remote rows and a speed
        carriers = {c.code: c for c in Carrier.objects.all()}
        assert set(carriers) == {"sf-cold", "jd-cold", "zto", "deppon"}
        assert carriers["sf-cold"].supports_frozen
        assert not carriers["zto"].supports_chilled
        for carrier in carriers.values():
            default = CarrierRate.objects.get(carrier=carrier, zone="", destination="")
            remote = CarrierRate.objects.get(carrier=carrier, zone="", destination="新疆")
            assert remote.first_fee_fen > default.first_fee_fen
        assert carriers["sf-cold"].speed.speed_factor < carriers["jd-cold"].speed.speed_factor
        # and every SKU has a unit weight (5 kg of rice weighs more than a bottle of milk)
        assert SkuWeight.objects.count() == Sku.objects.count()
        rice = SkuWeight.objects.get(sku__code="rice-wuchang-5kg").weight_g
        milk = SkuWeight.objects.get(sku__code="milk-pasture-950").weight_g
        assert rice > 5000 > milk > 950
        # and the three after-sales rules and the logger are there
        assert AfterSalesRule.objects.count() == 3
        assert TelemetryDevice.objects.filter(code=demo_fulfillment.DEVICE_CODE).exists()
        # and the demo orders went through allocation: all allocated but the one just paid
        demo = Allocation.objects.filter(
            order__idempotency_key__startswith=demo_fulfillment.KEY_PREFIX
        )
        assert demo.count() == len(demo_fulfillment.ORDERS)
        assert demo.filter(status=AllocationStatus.PENDING).count() == 1
        assert (
            demo.filter(status=AllocationStatus.ALLOCATED).count()
            == len(demo_fulfillment.ORDERS) - 1
        )
        assert all(a.explanation for a in demo.filter(status=AllocationStatus.ALLOCATED))
        # and no cold item rides with an ambient-only carrier
        for shipment in DEMO_ORDERS.select_related("carrier"):
            if shipment.storage != "ambient":
                assert shipment.carrier.supports_chilled
        # and some parcels are delivered, others still moving
        assert DEMO_ORDERS.filter(status=ShipmentStatus.DELIVERED).count() >= 3
        moving = DEMO_ORDERS.filter(
            status__in=[ShipmentStatus.HANDED_OVER, ShipmentStatus.IN_TRANSIT]
        )
        assert moving.count() >= 3
        # and the cold parcel's readings show one excursion, refunded automatically; the late
        # parcel earned its coupon
        assert TemperatureReading.objects.count() == 36
        assert Excursion.objects.count() == 1
        decisions = {d.trigger: d for d in AutoDecision.objects.all()}
        assert decisions["excursion"].status == DecisionStatus.EXECUTED
        assert decisions["excursion"].action == "full_refund"
        # and that refund really goes back through the payment the buyer made (the demo's
        # orders are paid at the sandbox cashier), once the worker submits it a minute later
        import datetime as dt

        from freshloop.core import clock
        from freshloop.core.outbox import outbox_relay
        from freshloop.payments.models import Refund as PaymentRefund

        with clock.frozen(clock.now() + dt.timedelta(minutes=5)):
            outbox_relay(batch_size=500)
        excursion_order = decisions["excursion"].order_id
        assert PaymentRefund.objects.filter(payment__order_id=excursion_order).exists()
        assert decisions["late_delivery"].status == DecisionStatus.EXECUTED
        assert decisions["late_delivery"].action == "coupon"
        assert "0 allocation(s) failed" in output
        # when the sandbox carrier ticks (the worker, every minute, in `make demo`)
        events = ShipmentEvent.objects.count()
        moved = sandbox_carrier_tick()
        # then the parcels still on their way take one more step each
        assert moved == moving.count() or moved > 0
        assert ShipmentEvent.objects.count() > events
