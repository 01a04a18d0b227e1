"""Row locks of the live module (host, room and flash sales share its rows), in one order:

1. a session, then its products (in primary-key order) and its flash sales;
2. viewers: one at a time, or a merge's viewers of both people in primary-key order, then the
   comments they move;
3. a comment on its own (with its session's row, fetched in the same statement).

A flash-sale buy waits for its writer turn (`flash_sale.locks.writer_turn`, SQLite) before any
row lock, and then locks the sale's row, never the session's. Moderating a viewer also locks
the viewer's person on PostgreSQL (one statement, viewer and person together); identity never
waits on viewers while it holds people (live reacts to a merge after its commit).
"""

from __future__ import annotations

from collections.abc import Iterable

from freshloop.live.models import LiveComment, LiveProduct, LiveSession, LiveViewer


def live_session_lock(session_id: int) -> LiveSession:
    """One session (raises `LiveSession.DoesNotExist` when it is gone)."""
    return LiveSession.objects.select_for_update().get(pk=session_id)


def live_products_lock(session_id: int) -> list[LiveProduct]:
    """A session's products with their SKU and product, in primary-key order (two quick pins in
    a row must not both stay pinned). Only the session's rows are locked: the catalog rows
    come along to be read, and an operator's catalog edit need not wait on a pin."""
    return list(
        LiveProduct.objects.select_for_update(of=("self",))
        .filter(session_id=session_id)
        .select_related("sku__product")
        .order_by("pk")
    )


def live_viewer_lock(
    *, session_id: int, person_id: int, with_person: bool = False
) -> LiveViewer | None:
    """A person's viewer row in a session, or None when they never joined it. `with_person`
    fetches the person too (and so, on PostgreSQL, locks the person's row with it)."""
    viewers = LiveViewer.objects.select_for_update()
    if with_person:
        viewers = viewers.select_related("person")
    return viewers.filter(session_id=session_id, person_id=person_id).first()


def live_viewers_lock(person_ids: Iterable[int]) -> list[LiveViewer]:
    """Every viewer row of these people, in every session, in primary-key order."""
    return list(
        LiveViewer.objects.select_for_update()
        .filter(person_id__in=sorted(set(person_ids)))
        .order_by("pk")
    )


def live_comment_lock(comment_id: int) -> LiveComment:
    """One comment with its session (raises `LiveComment.DoesNotExist` when it is gone)."""
    return LiveComment.objects.select_for_update().select_related("session").get(pk=comment_id)
