"""Live part of the demo brand: the weekly members' session, in progress, with its products,
the milk pinned, a live-only coupon to drop, and next week's session open for reservations."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.live.models import LiveProduct, LiveSession, LiveStatus
from freshloop.live.room.services import live_session_cover_upload, live_session_create
from freshloop.live.streams.services import demo_stream_generate
from freshloop.promotions.models import CouponTemplate
from freshloop.web import demo_images

SEED_ACTOR = Actor.system("demo_seed")
LIVE_SKUS = [
    "milk-pasture-950x2",
    "milk-a2-750x2",
    "yogurt-plain-180x6",
    "yogurt-greek-100x8",
    "eggs-free-range-30",
    "rice-wuchang-5kg",
]
NOW_TITLE = "周五会员直播 · 牧场鲜奶专场"
NEXT_TITLE = "下周五 · 冬季囤货节直播"


def seed_live() -> dict[str, object]:
    host = User.objects.get(username="live_host")
    skus = [sku.pk for sku in Sku.objects.filter(code__in=LIVE_SKUS)] or list(
        Sku.objects.values_list("pk", flat=True)[:6]
    )
    created = 0
    now = clock.now()
    current = LiveSession.objects.filter(title=NOW_TITLE).first()
    if current is None:
        current = live_session_create(
            title=NOW_TITLE,
            host=host,
            scheduled_at=now - dt.timedelta(minutes=20),
            sku_ids=skus,
            actor=SEED_ACTOR,
            description="本周鲜奶当天到，直播间专享秒杀和满减",
            coupon_template_ids=list(
                CouponTemplate.objects.filter(code="live-friday-15").values_list("pk", flat=True)
            ),
        )
        created += 1
    if not current.cover_url:
        live_session_cover_upload(session=current, file=demo_images.live_cover(), actor=SEED_ACTOR)
    # The demo session is always live when the demo starts, whatever happened to it before.
    LiveSession.objects.filter(pk=current.pk).update(
        status=LiveStatus.LIVE, started_at=now - dt.timedelta(minutes=20), ended_at=None
    )
    first = current.products.order_by("sort_order", "pk").first()
    if first is not None and not current.products.filter(pinned_at__isnull=False).exists():
        LiveProduct.objects.filter(pk=first.pk).update(pinned_at=now)
    if not LiveSession.objects.filter(title=NEXT_TITLE).exists():
        live_session_create(
            title=NEXT_TITLE,
            host=host,
            scheduled_at=now + dt.timedelta(days=7),
            sku_ids=skus,
            actor=SEED_ACTOR,
            description="囤货季：大米、水饺、鸡蛋满减",
        )
        created += 1
    playlist = demo_stream_generate()
    return {"sessions": created, "code": current.code, "stream": bool(playlist)}
