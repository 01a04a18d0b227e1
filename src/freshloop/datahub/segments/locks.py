"""Row locks of segments, in one order: a segment before its member rows (materialising one
segment, or a person leaving several), several segments always in primary-key order. Issuing a
segment's coupons holds no segment lock while the promotions module takes its own."""

from __future__ import annotations

from collections.abc import Iterable

from freshloop.datahub.models import Segment
from freshloop.datahub.segments.errors import SegmentNotFound


def segments_lock(segment_ids: Iterable[int]) -> list[Segment]:
    """Lock these segments in primary-key order (those that no longer exist are left out)."""
    return list(Segment.objects.select_for_update().filter(pk__in=set(segment_ids)).order_by("pk"))


def segment_lock(segment_id: int) -> Segment:
    """Lock one segment; raises SegmentNotFound when it is gone."""
    locked = segments_lock([segment_id])
    if not locked:
        raise SegmentNotFound(detail={"segment_id": segment_id})
    return locked[0]
