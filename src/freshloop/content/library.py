"""The content library (BM-6): posters, copy, videos, recipes and traceability media, tagged so a
live session, a journey or a group leader can find and reuse them.

Pictures go through `core.images` (checked, upright, EXIF stripped, cut into the page sizes) and
are written before the row: if the row cannot be written the stored files are deleted again, so
a refused upload leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from django.db import transaction
from django.db.models import Count, Q, QuerySet

from freshloop.content.errors import ContentItemInvalid, ContentItemNotFound
from freshloop.content.models import ContentItem, ContentKind, ContentTag
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.images import StoredImage, image_delete, image_store

MAX_TAGS = 10
UPLOAD_FOLDER = "content"


def _clean_tags(tags: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(t.strip() for t in tags if t and t.strip()))
    if len(cleaned) > MAX_TAGS or any(len(t) > 32 for t in cleaned):
        raise ContentItemInvalid.for_fields([("tags", f"标签最多 {MAX_TAGS} 个，每个不超过 32 字")])
    return cleaned


def content_item_create(
    *,
    kind: str,
    title: str,
    actor: Actor,
    body: str = "",
    tags: Sequence[str] = (),
    video_url: str = "",
    image: IO[bytes] | bytes | None = None,
) -> ContentItem:
    """A new material. Recipes enter the library through `recipes` (kind 菜谱 links a recipe)."""
    problems = []
    if kind not in ContentKind.values or kind == ContentKind.RECIPE:
        problems.append(("kind", "类型应为 海报 / 文案 / 视频 / 溯源素材（菜谱请在菜谱库中创建）"))
    title = (title or "").strip()
    if not title or len(title) > 100:
        problems.append(("title", "请填写标题（不超过 100 字）"))
    if len(body) > 5000:
        problems.append(("body", "文案不超过 5000 字"))
    if video_url and not video_url.startswith(("https://", "http://", "/media/")):
        problems.append(("video_url", "视频地址应以 https:// 开头"))
    if kind == ContentKind.VIDEO and not video_url:
        problems.append(("video_url", "视频素材需要视频地址"))
    if kind == ContentKind.POSTER and image is None:
        problems.append(("image", "海报需要上传图片"))
    if problems:
        raise ContentItemInvalid.for_fields(problems)
    names = _clean_tags(tags)
    stored: StoredImage | None = image_store(file=image, folder=UPLOAD_FOLDER) if image else None
    try:
        with transaction.atomic():
            item = ContentItem.objects.create(
                kind=kind,
                title=title,
                body=body,
                video_url=video_url,
                created_by=actor.label[:100],
                created_at=clock.now(),
                **(
                    {
                        "image_original": stored.original,
                        "image_webp_400": stored.webp_400,
                        "image_webp_1080": stored.webp_1080,
                        "image_jpeg_1080": stored.jpeg_1080,
                        "image_width": stored.width,
                        "image_height": stored.height,
                    }
                    if stored
                    else {}
                ),
            )
            item.tags.set([ContentTag.objects.get_or_create(name=n)[0] for n in names])
    except Exception:
        if stored is not None:
            image_delete(stored)
        raise
    return item


def content_item_archive(*, item_id: int, actor: Actor) -> ContentItem:
    item = content_item_get(item_id=item_id)
    ContentItem.objects.filter(pk=item.pk).update(is_archived=True)
    item.refresh_from_db()
    return item


def content_item_get(*, item_id: int) -> ContentItem:
    item = ContentItem.objects.filter(pk=item_id).prefetch_related("tags").first()
    if item is None:
        raise ContentItemNotFound()
    return item


def content_items_list(
    *, kind: str = "", tag: str = "", query: str = "", include_archived: bool = False
) -> QuerySet[ContentItem]:
    """Materials filtered by kind, tag and words in the title or copy, newest first."""
    items = ContentItem.objects.prefetch_related("tags").select_related("recipe")
    if not include_archived:
        items = items.filter(is_archived=False)
    if kind:
        items = items.filter(kind=kind)
    if tag:
        items = items.filter(tags__name=tag)
    if query:
        items = items.filter(Q(title__icontains=query) | Q(body__icontains=query))
    return items.distinct().order_by("-created_at", "-id")


def content_tags() -> list[tuple[str, int]]:
    """Every tag with how many live materials carry it, most used first."""
    rows = (
        ContentTag.objects.annotate(n=Count("items", filter=Q(items__is_archived=False)))
        .filter(n__gt=0)
        .order_by("-n", "name")
    )
    return [(row.name, row.n) for row in rows]
