"""Set-up for the traceability tests: lots through catalog's service, pictures drawn with
Pillow, a minimal PDF and MP4 header — all made here, nothing downloaded."""

from __future__ import annotations

import datetime as dt
import io
import itertools

from PIL import Image

from freshloop.catalog.models import Batch
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.food.models import TraceOrigin
from freshloop.food.services import trace_origin_create
from tests.factories import make_sku

OPERATOR = Actor(type="user", id="9", label="供应链小王")
_numbers = itertools.count(1)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def picture(
    width: int = 800, height: int = 600, color: tuple[int, int, int] = (30, 140, 60)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG", quality=80)
    return out.getvalue()


def panorama(width: int = 2048) -> bytes:
    return picture(width, width // 2, (120, 180, 230))


def make_lot(*, name: str = "牧场鲜牛奶", storage: str = "chilled") -> Batch:
    sku = make_sku(name=name, storage=storage)
    today = clock.to_shanghai(clock.now()).date()
    return batch_register(
        sku=sku, batch_no=f"T{next(_numbers):05d}", produced_on=today - dt.timedelta(days=1)
    )


def make_origin(name: str = "呼伦贝尔一号牧场") -> TraceOrigin:
    existing = TraceOrigin.objects.filter(name=name).first()
    if existing is not None:
        return existing
    return trace_origin_create(
        name=name,
        address="内蒙古自治区呼伦贝尔市陈巴尔虎旗",
        latitude="49.328412",
        longitude="119.424561",
        description="海拔 600 米的天然草场，奶牛全年放牧。",
        actor=OPERATOR,
    )


def yesterday() -> dt.date:
    return clock.to_shanghai(clock.now()).date() - dt.timedelta(days=1)


def stored_files() -> set[str]:
    """Every file under the traceability uploads folder (directories left empty don't count)."""
    from django.conf import settings

    root = settings.MEDIA_ROOT / "food" / "trace"
    return {str(path) for path in root.rglob("*") if path.is_file()} if root.exists() else set()
