"""Data hub part of the demo brand: event sources with write keys, the 18 months of orders as
events, and the behaviour around them for the last 12 weeks — shop browsing and carts, and the
Friday live sessions (viewers, dwell, comments, add-to-cart, pay) — so the dashboard's funnel,
the live session table, tags and segments have something true to show.

Idempotent: sources by name, behaviour events by deterministic ids (`demo:…`), orders by the
recorder's own ids.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings

from freshloop.catalog.models import Product, Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.ingestion.services import (
    buffer_append,
    event_source_create,
    orders_backfill,
    server_event_payload,
)
from freshloop.datahub.models import AcquisitionSpend, EventSource, Segment
from freshloop.datahub.segments.services import segment_materialise, segment_save
from freshloop.datahub.tags.services import tags_recompute_all
from freshloop.identity.models import Person, PersonStatus
from freshloop.orders.models import Order

SEED_ACTOR = Actor.system("demo_seed")
SOURCES = [
    ("直播间 SDK", "live"),
    ("H5 商城 SDK", "shop"),
    ("企业微信", "wecom"),
    ("门店 POS", "store"),
]
BEHAVIOUR_WEEKS = 12
SPEND = [
    ("live", "周五会员直播投流", 180_000),
    ("shop", "朋友圈广告", 120_000),
    ("groupbuy", "团长拉新奖励", 60_000),
]


def _keys_file() -> Path:
    return Path(settings.DATAHUB_DEMO_KEYS_FILE)


def seed_sources() -> dict[str, str]:
    """Create the demo's event sources; their write keys are kept in the data directory so the
    demo can show them again (a real brand keeps them in its secret store)."""
    path = _keys_file()
    keys: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for name, channel in SOURCES:
        if EventSource.objects.filter(name=name).exists():
            continue
        raw, _ = event_source_create(actor=SEED_ACTOR, name=name, channel=channel)
        keys[name] = raw
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, ensure_ascii=False, indent=2))
    return keys


def _event(
    name: str,
    *,
    at: dt.datetime,
    person_id: int,
    channel: str,
    live_session: str = "",
    **properties: Any,
) -> dict[str, Any]:
    return server_event_payload(
        name=name,
        occurred_at=at,
        channel=channel,
        person_id=person_id,
        properties=properties,
        live_session=live_session,
    )


def _behaviour(rng: random.Random, now: dt.datetime) -> dict[str, dict[str, Any]]:
    since = now - dt.timedelta(weeks=BEHAVIOUR_WEEKS)
    orders = list(Order.objects.filter(paid_at__gte=since).prefetch_related("lines").order_by("pk"))
    # Browsers are drawn from buyers; a demo seeded without order history browses anyway.
    people = sorted(set(Order.objects.values_list("person_id", flat=True))) or list(
        Person.objects.filter(status=PersonStatus.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not people:
        return {}
    # Browsing and live clicks name products and SKUs the catalog has (the profile timeline
    # shows them by name).
    product_ids = list(Product.objects.order_by("pk").values_list("pk", flat=True)) or [1]
    sku_ids = list(Sku.objects.order_by("pk").values_list("pk", flat=True)) or [1]
    events: dict[str, dict[str, Any]] = {}
    sessions: dict[str, list[Order]] = defaultdict(list)
    for order in orders:
        lines = list(order.lines.all())
        if order.channel == "live" and order.source_ref:
            sessions[order.source_ref].append(order)
            continue
        assert order.paid_at is not None
        for index, line in enumerate(lines):
            at = order.paid_at - dt.timedelta(minutes=rng.randint(5, 40))
            events[f"demo:view:{order.order_no}:{index}"] = _event(
                "product_view",
                at=at,
                person_id=order.person_id,
                channel=order.channel,
                product_id=line.sku.product_id,
                sku_id=line.sku_id,
            )
            events[f"demo:cart:{order.order_no}:{index}"] = _event(
                "add_to_cart",
                at=at + dt.timedelta(minutes=2),
                person_id=order.person_id,
                channel=order.channel,
                sku_id=line.sku_id,
                quantity=line.quantity,
            )
    # Browsers who did not buy (and some who added to cart and left).
    for day in range(BEHAVIOUR_WEEKS * 7):
        for visit in range(rng.randint(8, 16)):
            person_id = rng.choice(people)
            at = since + dt.timedelta(days=day, hours=rng.uniform(8, 23))
            events[f"demo:browse:{day}:{visit}"] = _event(
                "product_view",
                at=at,
                person_id=person_id,
                channel="shop",
                product_id=rng.choice(product_ids),
            )
            if rng.random() < 0.25:
                events[f"demo:abandon:{day}:{visit}"] = _event(
                    "add_to_cart",
                    at=at + dt.timedelta(minutes=1),
                    person_id=person_id,
                    channel="shop",
                    sku_id=rng.choice(sku_ids),
                    quantity=1,
                )
    for code, session_orders in sessions.items():
        start = min(o.paid_at for o in session_orders if o.paid_at) - dt.timedelta(minutes=30)
        buyers = {o.person_id for o in session_orders}
        watchers = buyers | set(rng.sample(people, min(len(people), len(buyers) * 4 + 10)))
        for person_id in sorted(watchers):
            joined = start + dt.timedelta(minutes=rng.uniform(0, 20))
            dwell = rng.randint(60, 3000) if person_id not in buyers else rng.randint(900, 3600)
            tag = f"{code}:{person_id}"
            events[f"demo:join:{tag}"] = _event(
                "live_join", at=joined, person_id=person_id, channel="live", live_session=code
            )
            events[f"demo:leave:{tag}"] = _event(
                "live_leave",
                at=joined + dt.timedelta(seconds=dwell),
                person_id=person_id,
                channel="live",
                live_session=code,
                dwell_seconds=dwell,
            )
            for number in range(rng.choice([0, 0, 1, 2, 4])):
                events[f"demo:comment:{tag}:{number}"] = _event(
                    "live_comment",
                    at=joined + dt.timedelta(seconds=rng.randint(10, dwell)),
                    person_id=person_id,
                    channel="live",
                    live_session=code,
                    length=rng.randint(4, 30),
                )
            if rng.random() < 0.35:
                events[f"demo:click:{tag}"] = _event(
                    "live_click_product",
                    at=joined + dt.timedelta(minutes=3),
                    person_id=person_id,
                    channel="live",
                    live_session=code,
                    sku_id=rng.choice(sku_ids),
                )
            if person_id in buyers or rng.random() < 0.15:
                events[f"demo:lcart:{tag}"] = _event(
                    "live_add_to_cart",
                    at=joined + dt.timedelta(minutes=5),
                    person_id=person_id,
                    channel="live",
                    live_session=code,
                    sku_id=rng.choice(sku_ids),
                )
        for order in session_orders:
            assert order.paid_at is not None
            events[f"demo:lpay:{order.order_no}"] = _event(
                "live_pay",
                at=order.paid_at,
                person_id=order.person_id,
                channel="live",
                live_session=code,
                order_no=order.order_no,
                amount_fen=order.paid_fen,
            )
    return events


def seed_spend(now: dt.datetime) -> int:
    created = 0
    month_start = (now - dt.timedelta(days=89)).date()
    for channel, campaign, amount_fen in SPEND:
        _, made = AcquisitionSpend.objects.get_or_create(
            channel=channel,
            campaign=campaign,
            defaults={
                "starts_on": month_start,
                "ends_on": now.date(),
                "amount_fen": amount_fen,
                "created_by": SEED_ACTOR.label,
                "created_at": now,
                "note": "演示数据",
            },
        )
        created += int(made)
    return created


# Saved audiences a marketer would start from (the builder offers the same as examples).
DEMO_SEGMENTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "近30天看过≥2场直播且未支付",
        "直播间的犹豫用户：适合发直播专享券或私信邀约下一场",
        {
            "op": "and",
            "rules": [
                {
                    "kind": "event",
                    "name": "live_join",
                    "measure": "distinct_live_sessions",
                    "operator": "gte",
                    "value": 2,
                    "within_days": 30,
                },
                {
                    "kind": "event",
                    "name": "order_paid",
                    "measure": "count",
                    "operator": "eq",
                    "value": 0,
                    "within_days": 30,
                },
            ],
        },
    ),
    (
        "流失预警的重要客户",
        "曾经高价值、最近 2~4 个月没有下单：挽回券的目标",
        {
            "op": "and",
            "rules": [
                {
                    "kind": "tag",
                    "field": "lifecycle",
                    "operator": "in",
                    "value": ["流失预警", "已流失"],
                },
                {"kind": "tag", "field": "m_score", "operator": "gte", "value": 4},
            ],
        },
    ),
    (
        "华东鲜奶常客",
        "上海、江苏、浙江偏好鲜牛奶的客户：周期购订阅的潜在用户",
        {
            "op": "and",
            "rules": [
                {
                    "kind": "tag",
                    "field": "top_categories",
                    "operator": "contains",
                    "value": "鲜牛奶",
                },
                {
                    "kind": "tag",
                    "field": "province",
                    "operator": "in",
                    "value": ["上海", "江苏", "浙江"],
                },
            ],
        },
    ),
]


def seed_segments() -> int:
    """Save the demo segments that do not exist yet and (re)materialise all of them."""
    for name, description, definition in DEMO_SEGMENTS:
        segment = Segment.objects.filter(name=name).first()
        if segment is None:
            segment = segment_save(
                name=name, description=description, definition=definition, actor=SEED_ACTOR
            )
        segment_materialise(segment=segment, actor=SEED_ACTOR)
    return len(DEMO_SEGMENTS)


def seed_datahub(*, rng: random.Random) -> dict[str, Any]:
    now = clock.now()
    keys = seed_sources()
    orders = orders_backfill()
    behaviour = _behaviour(rng, now)
    added = 0
    items = list(behaviour.items())
    for start in range(0, len(items), 1000):
        added += buffer_append(
            source="demo", payloads=dict(items[start : start + 1000]), received_at=now
        )
    flushed = buffer_flush_all()
    spend = seed_spend(now)
    # Tags follow each flush for the people it touched; after a bulk load, recompute them all
    # at once (what the nightly job does) so the population's quintiles are whole.
    tags_recompute_all()
    segments = seed_segments()
    return {
        "segments": segments,
        "keys": keys,
        "order_events": orders,
        "behaviour_events": added,
        "flushed": flushed,
        "spend": spend,
    }
