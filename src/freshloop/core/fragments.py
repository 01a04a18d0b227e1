"""Rendered page fragments kept for a few seconds, shared by every visitor and process.

The shop's product grid and product pages are the same for every anonymous visitor and cost
~10 ms of queries and template work each; kept in the cache for `FRESHLOOP_PAGE_CACHE_SECONDS`
(10 s by default) a page costs a cache read. A fragment names a *version* that its owner bumps
when what it shows is edited (the catalog does on every write), so an edit shows at once; what
changes without a version bump (stock levels, hence 已售罄) shows within the lifetime. Orders
never trust a fragment: stock is checked when the order is placed.

A cache that does not answer (Redis down) is not an error: the fragment is built as if nothing
were cached, so a page still renders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache

from freshloop.core.outages import REDIS_OUTAGE_ERRORS

logger = logging.getLogger(__name__)
T = TypeVar("T")
_MISSING = object()


def fragment_cached(key: str, build: Callable[[], T], *, seconds: int | None = None) -> T:
    """The cached value of `key`, or `build()` stored under it. `build` returning None (e.g. a
    product that is not for sale) is not stored."""
    lifetime = settings.FRESHLOOP.page_cache_seconds if seconds is None else seconds
    if lifetime <= 0:
        return build()
    full_key = f"fragment:{key}"
    try:
        found = cache.get(full_key, _MISSING)
    except REDIS_OUTAGE_ERRORS as exc:  # the cache is down: render without it
        logger.warning("fragment cache unavailable (%s): %s", type(exc).__name__, exc)
        return build()
    if found is not _MISSING:
        return found
    value = build()
    if value is not None:
        try:
            cache.set(full_key, value, lifetime)
        except REDIS_OUTAGE_ERRORS as exc:
            logger.warning("fragment cache unavailable (%s): %s", type(exc).__name__, exc)
    return value


def fragment_version(name: str) -> int:
    """The current version of a family of fragments (0 when never bumped or the cache is down)."""
    try:
        return int(cache.get(f"fragment-version:{name}", 0))
    except REDIS_OUTAGE_ERRORS:
        return 0


def fragment_version_bump(name: str) -> None:
    """Make every fragment keyed with the old version of `name` stale at once."""
    key = f"fragment-version:{name}"
    try:
        try:
            cache.incr(key)
        except ValueError:  # never set: incr refuses a missing key
            cache.set(key, 1, None)
    except REDIS_OUTAGE_ERRORS as exc:
        logger.warning("fragment version %s not bumped (%s): %s", name, type(exc).__name__, exc)
