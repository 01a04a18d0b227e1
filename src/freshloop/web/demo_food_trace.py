"""Traceability part of the demo brand (SPEC FD-3): the 牧场鲜牛奶 lots come from a pasture in
Xilingol, with feeding, production and inspection records, a photo and a 360° panorama of the
pasture drawn here with Pillow (an equirectangular 2:1 picture: sky, sun, clouds, rolling hills
and grass, seamless where its left and right edges meet) — nothing is downloaded.

The newest lot is published twice, so its page shows a 修改记录. Idempotent: the origin by
name, a lot already published is left alone.
"""

from __future__ import annotations

import io
import math
import random

from PIL import Image, ImageDraw, ImageFilter

from freshloop.catalog.models import Batch
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.food.models import TraceOrigin, TraceRecord, TraceVersion
from freshloop.food.selectors import lot_trace_url
from freshloop.food.services import (
    trace_media_add,
    trace_origin_assign,
    trace_origin_create,
    trace_publish,
    trace_record_add,
    trace_record_update,
)

SEED_ACTOR = Actor.system("demo_seed")
ORIGIN_NAME = "锡林郭勒一号牧场"
PRODUCT_CODE = "milk-pasture"
LOTS = 3


def _blend(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _horizon(width: int, x: int, base: float, waves: tuple[tuple[int, float, float], ...]) -> float:
    """A hill line whose waves repeat a whole number of times across the width, so the
    panorama's seam (x = 0 meets x = width) is invisible."""
    return base - sum(
        amplitude * math.sin(2 * math.pi * cycles * x / width + phase)
        for cycles, amplitude, phase in waves
    )


def pasture_panorama(width: int = 2048) -> bytes:
    """A JPEG equirectangular panorama of a pasture, `width` × `width/2`."""
    height = width // 2
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = height // 2
    for y in range(horizon):  # sky: deep blue at the zenith, pale at the horizon
        draw.line([(0, y), (width, y)], fill=_blend((40, 110, 200), (200, 228, 245), y / horizon))
    for y in range(horizon, height):  # grass: lighter far away, darker at the nadir
        t = (y - horizon) / (height - horizon)
        draw.line([(0, y), (width, y)], fill=_blend((120, 175, 80), (40, 95, 35), t))
    sun = (int(width * 0.3), int(height * 0.22))
    for radius, color in ((60, (255, 244, 200)), (36, (255, 252, 230))):
        r = radius * width // 2048
        draw.ellipse([sun[0] - r, sun[1] - r, sun[0] + r, sun[1] + r], fill=color)
    rng = random.Random(17)  # noqa: S311 - a fixed drawing, not a secret
    for _ in range(14):  # clouds
        cx, cy = rng.randrange(width), rng.randrange(height // 12, horizon - height // 8)
        for _ in range(5):
            w = rng.randrange(width // 40, width // 18)
            h = w // 2
            dx, dy = rng.randrange(-w, w), rng.randrange(-h // 2, h // 2)
            draw.ellipse([cx + dx - w, cy + dy - h, cx + dx + w, cy + dy + h], fill=(250, 252, 255))
    image = image.filter(ImageFilter.GaussianBlur(radius=1.5))
    draw = ImageDraw.Draw(image)
    for base, color, waves in (
        (horizon + 4, (95, 140, 90), ((3, 18, 0.4), (7, 8, 1.3))),
        (horizon + 14, (105, 160, 70), ((2, 14, 2.1), (5, 9, 0.2), (11, 4, 0.9))),
    ):
        scale = height / 1024
        points = [
            (x, _horizon(width, x, base, tuple((c, a * scale, p) for c, a, p in waves)))
            for x in range(0, width + 1, 4)
        ]
        draw.polygon([(0, height), *points, (width, height)], fill=color)
    for x in range(0, width, width // 48):  # a fence around the paddock
        top = horizon + height // 9
        draw.rectangle([x, top, x + max(2, width // 700), top + height // 22], fill=(110, 80, 50))
    fence_y = horizon + height // 9 + height // 60
    draw.line([(0, fence_y), (width, fence_y)], fill=(120, 90, 60), width=max(2, width // 900))
    for _ in range(9):  # cows: a white body with black patches
        x = rng.randrange(width)
        y = rng.randrange(horizon + height // 6, horizon + height // 3)
        s = max(6, width // 160)
        draw.ellipse([x, y, x + 3 * s, y + 2 * s], fill=(245, 245, 240))
        draw.ellipse([x + s, y + s // 3, x + 2 * s, y + s], fill=(30, 30, 30))
        draw.ellipse(
            [x + 3 * s - s // 2, y - s // 2, x + 3 * s + s // 2, y + s // 2], fill=(240, 240, 235)
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def pasture_photo() -> bytes:
    """A flat photo of the pasture: the panorama's view toward the sun, 4:3."""
    with Image.open(io.BytesIO(pasture_panorama(2048))) as pano:
        crop = pano.crop((300, 256, 1100, 856))
        out = io.BytesIO()
        crop.save(out, "JPEG", quality=85)
    return out.getvalue()


def _origin() -> TraceOrigin:
    existing = TraceOrigin.objects.filter(name=ORIGIN_NAME).first()
    if existing is not None:
        return existing
    return trace_origin_create(
        name=ORIGIN_NAME,
        address="内蒙古自治区锡林郭勒盟锡林浩特市白音锡勒牧场",
        latitude="43.933400",
        longitude="116.081200",
        description=(
            "海拔约 1,000 米的天然草原牧场，荷斯坦奶牛夏秋放牧、冬春舍饲，"
            "挤奶后 2 小时内 4℃ 冷藏运往加工厂。"
        ),
        actor=SEED_ACTOR,
    )


def _trace_lot(lot: Batch, origin: TraceOrigin, *, media: bool) -> TraceVersion:
    trace_origin_assign(batch=lot, origin=origin, actor=SEED_ACTOR)
    produced = lot.produced_on
    trace_record_add(
        batch=lot,
        kind="feed",
        occurred_on=produced,
        title="放牧与饲料",
        inspector="牧场主管 巴特尔",
        result="天然牧草 + 苜蓿干草，全程无抗生素添加",
        actor=SEED_ACTOR,
    )
    trace_record_add(
        batch=lot,
        kind="production",
        occurred_on=produced,
        title="巴氏杀菌与灌装",
        inspector="生产主管 刘洋",
        result="75℃ 15 秒巴氏杀菌，灌装后即刻冷藏 2–6℃",
        photo=pasture_photo() if media else None,
        actor=SEED_ACTOR,
    )
    trace_record_add(
        batch=lot,
        kind="inspection",
        occurred_on=produced,
        title="出厂检验",
        inspector="质检员 张敏",
        result="蛋白质 3.3 g/100mL，菌落总数合格",
        actor=SEED_ACTOR,
    )
    if media:
        trace_media_add(
            batch=lot,
            kind="panorama",
            file=pasture_panorama(),
            caption="锡林郭勒牧场 360° 全景",
            actor=SEED_ACTOR,
        )
        trace_media_add(
            batch=lot, kind="photo", file=pasture_photo(), caption="夏季放牧", actor=SEED_ACTOR
        )
    return trace_publish(batch=lot, actor=SEED_ACTOR, note="首次发布")


def seed_food_trace() -> dict[str, object]:
    """Trace the newest lots of 牧场鲜牛奶; the newest gets a panorama and a second version."""
    origin = _origin()
    lots = list(
        Batch.objects.filter(sku__product__code=PRODUCT_CODE).order_by("-produced_on", "-id")[:LOTS]
    )
    published = 0
    for index, lot in enumerate(lots):
        if TraceVersion.objects.filter(profile__batch=lot).exists():
            continue
        _trace_lot(lot, origin, media=index == 0)
        published += 1
        if index == 0:
            record = TraceRecord.objects.get(profile__batch=lot, kind="inspection")
            trace_record_update(
                record=record,
                kind=record.kind,
                occurred_on=record.occurred_on,
                title=record.title,
                inspector=record.inspector,
                result="蛋白质 3.3 g/100mL，菌落总数合格（第三方复检：合格）",
                actor=SEED_ACTOR,
            )
            trace_publish(batch=lot, actor=SEED_ACTOR, note="补充第三方复检结果")
    return {
        "lots": published,
        "url": lot_trace_url(lots[0].pk) if lots else "",
        "today": clock.to_shanghai(clock.now()).date().isoformat(),
    }
