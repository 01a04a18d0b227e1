"""Fulfillment part of the demo brand (SPEC FF-1…FF-4): carriers with their rate tables and
speeds, unit weights of the demo SKUs, the automatic after-sales rules, a temperature logger,
and a handful of recent paid orders run through the real flow — allocation by the solver,
waybill and hand-over, the sandbox carrier's route, telemetry with one excursion, one parcel
delivered late.

Everything goes through the fulfillment / orders / promotions services. Idempotent: carriers
by code (their rate table is replaced with the same rows), weights by SKU, rules by name, the
logger by code, demo orders by their idempotency key — a re-run finds them and adds nothing.

The demo orders are placed "in the past" with a pinned clock (`core.clock.frozen`), the way a
replay would, and the sandbox carrier's own tick moves them: an order paid eight days ago and
delivered three days later is late against its promise, so the late-delivery rule has
something to act on. Parcels left in transit keep moving with the
periodic `fulfillment.sandbox_carrier_tick` once `make demo` starts the worker.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.outbox import outbox_relay
from freshloop.fulfillment.models import (
    AfterSalesRule,
    Allocation,
    Carrier,
    Excursion,
    Shipment,
    ShipmentStatus,
    TelemetryDevice,
)
from freshloop.fulfillment.services import (
    RateSpec,
    ReadingInput,
    aftersales_rule_create,
    allocation_open,
    allocations_run,
    carrier_configure,
    device_attach,
    device_create,
    readings_ingest,
    sandbox_carrier_tick,
    shipment_hand_over,
    shipment_pick,
    sku_weight_set,
)
from freshloop.identity.models import Person
from freshloop.orders.models import Order
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    order_create,
)
from freshloop.payments.services import payment_sandbox_pay
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.services import CouponTemplateSpec, coupon_template_create

SEED_ACTOR = Actor.system("demo_seed")
KEY_PREFIX = "demo-ff-"
DEVICE_CODE = "DEMO-LOGGER-01"
LATE_COUPON = "late-10"

REMOTE = ("新疆", "西藏", "青海", "内蒙古", "宁夏", "甘肃")


def _table(
    first: int, extra: int, cold: int = 0, *, remote_first: int, remote_extra: int
) -> list[RateSpec]:
    """A realistic table: one default row, cheaper same-province and same-region rows, and
    dearer rows for the remote provinces (the most specific row wins)."""
    rows = [
        RateSpec(first_fee_fen=first, extra_per_kg_fen=extra, cold_surcharge_fen=cold),
        RateSpec(
            first_fee_fen=first - first // 4,
            extra_per_kg_fen=extra - extra // 4,
            cold_surcharge_fen=cold,
            zone="local",
        ),
        RateSpec(
            first_fee_fen=first - first // 8,
            extra_per_kg_fen=extra - extra // 8,
            cold_surcharge_fen=cold,
            zone="regional",
        ),
    ]
    rows += [
        RateSpec(
            first_fee_fen=remote_first,
            extra_per_kg_fen=remote_extra,
            cold_surcharge_fen=cold + cold // 2,
            destination=province,
        )
        for province in REMOTE
    ]
    return rows


@dataclass(frozen=True)
class DemoCarrier:
    code: str
    name: str
    chilled: bool
    frozen: bool
    rates: list[RateSpec]
    speed_factor: float
    days_offset: int


CARRIERS = [
    # Fast and dear: the cold-chain express.
    DemoCarrier(
        "sf-cold",
        "顺丰冷运",
        True,
        True,
        _table(2300, 1000, 1200, remote_first=4200, remote_extra=1800),
        0.7,
        0,
    ),
    DemoCarrier(
        "jd-cold",
        "京东冷链",
        True,
        True,
        _table(1800, 800, 900, remote_first=3600, remote_extra=1500),
        1.0,
        0,
    ),
    # Ambient only: cheap, a day slower; heavy freight that prices extra kilos low.
    DemoCarrier(
        "zto",
        "中通快递",
        False,
        False,
        _table(800, 400, remote_first=2000, remote_extra=1200),
        1.0,
        1,
    ),
    DemoCarrier(
        "deppon",
        "德邦快递",
        False,
        False,
        _table(1500, 200, remote_first=2800, remote_extra=600),
        1.2,
        1,
    ),
]

CATEGORY_WEIGHT_G = {
    "fresh-milk": 1100,
    "yogurt": 900,
    "eggs": 1800,
    "indica-rice": 5200,
    "japonica-rice": 5200,
    "frozen-dumplings": 1300,
    "seasonal-fruit": 2700,
}
"""Packed weight when the spec names no weight (eggs by the tray, kiwis by the box)."""

ICE_PACK_G = {"ambient": 100, "chilled": 400, "frozen": 600}


def unit_weight_g(spec: str, category: str, storage: str) -> int:
    """The packed weight of one unit: what the spec says (5kg, 950ml×2, 180g×6) plus the
    packaging and ice packs its storage class needs; the category's default otherwise."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)\s*(kg|g|ml|l)\b(?:\s*[×x]\s*(\d+))?", spec, re.I)
    if match is None:
        return CATEGORY_WEIGHT_G.get(category, 1000)
    amount, unit, times = float(match[1]), match[2].lower(), int(match[3] or 1)
    grams = amount * (1000 if unit in {"kg", "l"} else 1) * times
    return int(grams * 1.03) + ICE_PACK_G.get(storage, 100)


@dataclass(frozen=True)
class DemoOrder:
    key: str
    sku_codes: tuple[str, ...]
    hours_ago: int  # when it was placed and paid
    hand_over: bool = True  # False: left in the allocation queue for the worker
    excursion: bool = False  # its cold parcel carries the logger


DELIVERED = [
    # Paid eight days ago, handed over, then stuck at a hub: delivered days after its promise.
    DemoOrder("late", ("eggs-sterile-20",), 8 * 24),
    # Paid three days ago, delivered within their promise.
    DemoOrder("d1", ("milk-pasture-950x2", "yogurt-plain-180x6"), 3 * 24),
    DemoOrder("d2", ("rice-wuchang-5kg",), 3 * 24),
]
MOVING = [
    # In transit with a temperature logger: a 50-minute excursion above 4 °C; its ¥42.90 is
    # within the ¥50 the excursion rule refunds without approval.
    DemoOrder("cold", ("milk-a2-750x2",), 6, excursion=True),
    # Still moving: the worker's sandbox tick walks them on.
    DemoOrder("m1", ("dumpling-shrimp-600g",), 4),
    DemoOrder("m2", ("rice-panjin-10kg", "fruit-citrus-5kg"), 2),
    # Just paid: in the allocation queue until the worker's batch runs.
    DemoOrder("q1", ("milk-kids-200x12",), 1, hand_over=False),
]
ORDERS = DELIVERED + MOVING
TICK = dt.timedelta(hours=3)
"""How far apart the seed's sandbox ticks are for the delivered parcels."""


def seed_fulfillment(*, people: list[Person]) -> dict[str, int]:
    """Carriers, weights, rules, the logger and — given `people` — the demo orders; returns
    what was new and where the demo parcels stand."""
    carriers = _carriers()
    weights = _weights()
    rules = _rules()
    device = _device()
    orders = _orders(people) if people else {}
    # Deliver the effects the orders left (excursion and late-delivery decisions, the buyer's
    # in-app messages) now, as the worker would, so the demo opens with them in place.
    relayed = _relay() if orders else 0
    return {
        "carriers": carriers,
        "weights": weights,
        "rules": rules,
        "devices": device,
        "orders": len(orders),
        "delivered": Shipment.objects.filter(
            order__idempotency_key__startswith=KEY_PREFIX, status=ShipmentStatus.DELIVERED
        ).count(),
        "moving": Shipment.objects.filter(
            order__idempotency_key__startswith=KEY_PREFIX,
            status__in=[ShipmentStatus.HANDED_OVER, ShipmentStatus.IN_TRANSIT],
        ).count(),
        "excursions": Excursion.objects.filter(
            shipment__order__idempotency_key__startswith=KEY_PREFIX
        ).count(),
        "failed": Allocation.objects.filter(
            order__idempotency_key__startswith=KEY_PREFIX, status="failed"
        ).count(),
        "relayed": relayed,
    }


def _relay() -> int:
    sent = 0
    for _ in range(5):  # an effect's handler may enqueue the next (decision → message)
        result = outbox_relay(batch_size=500)
        sent += result.sent
        if not result.sent:
            break
    return sent


def _carriers() -> int:
    existing = set(Carrier.objects.values_list("code", flat=True))
    for item in CARRIERS:
        carrier_configure(
            code=item.code,
            name=item.name,
            chilled=item.chilled,
            frozen=item.frozen,
            rates=item.rates,
            speed_factor=item.speed_factor,
            days_offset=item.days_offset,
            actor=SEED_ACTOR,
        )
    return len({c.code for c in CARRIERS} - existing)


def _weights() -> int:
    count = 0
    for sku in Sku.objects.select_related("product__category").order_by("pk"):
        sku_weight_set(
            sku_id=sku.pk,
            weight_g=unit_weight_g(sku.spec, sku.product.category.code, sku.product.storage),
        )
        count += 1
    return count


def _rules() -> int:
    template = CouponTemplate.objects.filter(code=LATE_COUPON).first()
    if template is None:
        now = clock.now()
        template = coupon_template_create(
            actor=SEED_ACTOR,
            spec=CouponTemplateSpec(
                code=LATE_COUPON,
                name="超时补偿10元券",
                kind="fixed",
                amount_off_fen=1000,
                threshold_fen=0,
                valid_from=now - dt.timedelta(days=1),
                valid_until=now + dt.timedelta(days=365),
                per_user_limit=10,
                description="包裹超时送达的补偿",
            ),
        )
    specs = [
        {
            "name": "冷链超温自动退款（≤50元）",
            "priority": 10,
            "trigger": "excursion",
            "min_excursion_minutes": 0,
            "action": "full_refund",
            "approval_above_fen": 5000,
            "customer_limit_count": 3,
            "customer_limit_days": 30,
            "daily_limit_fen": 200_000,
        },
        {
            "name": "超时24小时补偿10元券",
            "priority": 20,
            "trigger": "late_delivery",
            "min_late_hours": 24,
            "action": "coupon",
            "coupon_template_id": template.pk,
        },
        {
            "name": "变质有图自动退款（≤30元）",
            "priority": 30,
            "trigger": "complaint",
            "reasons": ["spoiled"],
            "requires_photo": True,
            "amount_max_fen": 3000,
            "action": "full_refund",
            "max_recent_claims": 2,
            "claims_window_days": 30,
        },
    ]
    created = 0
    for spec in specs:
        if AfterSalesRule.objects.filter(name=spec["name"]).exists():
            continue
        aftersales_rule_create(spec=spec, actor=SEED_ACTOR)
        created += 1
    return created


def _device() -> int:
    if TelemetryDevice.objects.filter(code=DEVICE_CODE).exists():
        return 0
    device_create(code=DEVICE_CODE, name="演示冷链温度记录仪", actor=SEED_ACTOR)
    return 1


def _orders(people: list[Person]) -> dict[str, Order]:
    """Place, pay and allocate the demo orders, each at its own past moment (a pinned clock),
    hand their parcels over and let the sandbox carrier move them with its own tick.

    All or nothing per run: once any demo order exists the orders are left alone, since a
    tick moves every parcel on the road and a second pass would move the first ones on."""
    if Order.objects.filter(idempotency_key__startswith=KEY_PREFIX).exists():
        return {}
    skus = {sku.code: sku for sku in Sku.objects.filter(code__in=_codes())}
    if any(code not in skus for code in _codes()):
        return {}  # a trimmed catalog: no demo orders rather than half of them
    now = clock.now()
    made: dict[str, Order] = {}
    # The late parcel is handed over and makes two steps, then waits at a hub for days.
    made["late"] = _order(people, 0, DELIVERED[0], skus, now)
    for step in range(2):
        _tick(now - dt.timedelta(hours=DELIVERED[0].hours_ago) + TICK * (step + 1))
    for index, spec in enumerate(DELIVERED[1:], start=1):
        made[spec.key] = _order(people, index, spec, skus, now)
    # Every parcel on the road walks its whole route, a step every three hours.
    moment = now - dt.timedelta(hours=DELIVERED[1].hours_ago) + TICK
    for _ in range(30):
        if not _tick(moment):
            break
        moment += TICK
    # The ones still moving: each handed over a little later than the one before, then a
    # tick (the cold parcel two steps on, the next one step, the last just handed over).
    for index, spec in enumerate(MOVING, start=len(DELIVERED)):
        made[spec.key] = _order(people, index, spec, skus, now)
        if spec.hand_over and spec is not MOVING[-2]:
            _tick(now - dt.timedelta(hours=spec.hours_ago - 1))
    for spec in MOVING:
        if spec.excursion:
            for shipment in Shipment.objects.filter(order=made[spec.key]).exclude(
                storage="ambient"
            ):
                _readings(shipment, now)
    return made


def _order(
    people: list[Person], index: int, spec: DemoOrder, skus: dict[str, Sku], now: dt.datetime
) -> Order:
    person = people[(index * 37) % len(people)]
    with clock.frozen(now - dt.timedelta(hours=spec.hours_ago)):
        order = _place(person, KEY_PREFIX + spec.key, [skus[code] for code in spec.sku_codes])
        if not spec.hand_over:
            return order
        allocation_open(order_id=order.pk)
        allocations_run(order_ids=[order.pk])
        for shipment in Shipment.objects.filter(order=order).order_by("pk"):
            shipment_pick(shipment_id=shipment.pk, actor=SEED_ACTOR)
            shipment_hand_over(shipment_id=shipment.pk, actor=SEED_ACTOR)
    return order


def _tick(at: dt.datetime) -> int:
    """One step of the sandbox carrier (the worker's periodic job) at moment `at`."""
    with clock.frozen(at):
        return sandbox_carrier_tick()


def _codes() -> set[str]:
    return {code for spec in ORDERS for code in spec.sku_codes}


def _place(person: Person, key: str, skus: list[Sku]) -> Order:
    address = {
        "name": person.display_name or "演示顾客",
        "phone": "13800138000",
        "province": str(person.traits.get("province") or "上海"),
        "city": str(person.traits.get("city") or "上海"),
        "district": "中心城区",
        "detail": "演示路 1 号",
    }
    order, _ = order_create(
        request=CheckoutRequest(
            person=person,
            items=[CheckoutItem(sku_id=sku.pk, quantity=1) for sku in skus],
            address=address,
            idempotency_key=key,
        )
    )
    # Paid at the sandbox cashier, so the automatic refunds the demo shows really refund.
    payment_sandbox_pay(order_no=order.order_no, person_id=person.pk)
    order.refresh_from_db()
    return order


def _readings(shipment: Shipment, now: dt.datetime) -> None:
    """Three hours of readings every 5 minutes from the logger in the parcel, 50 minutes of
    them at 6–7.5 °C (the cold box opened at a transfer hub): one excursion."""
    device = TelemetryDevice.objects.get(code=DEVICE_CODE)
    if device.shipment_id is None:
        device = device_attach(device_id=device.pk, shipment_id=shipment.pk, actor=SEED_ACTOR)
    start = now - dt.timedelta(hours=3)
    readings = []
    for step in range(36):
        at = start + dt.timedelta(minutes=5 * step)
        warm = 14 <= step < 24
        celsius = 6.0 + (step % 3) * 0.7 if warm else 2.6 + (step % 4) * 0.3
        readings.append(
            ReadingInput(
                reading_id=f"{DEVICE_CODE}-{shipment.shipment_no}-{step:03d}",
                recorded_at=at,
                celsius=round(celsius, 1),
                humidity=82.0,
                shipment_no=shipment.shipment_no,
            )
        )
    readings_ingest(device=device, readings=readings)
