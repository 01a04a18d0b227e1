"""Checks the promotions services share: the shapes of codes and slugs, and ids that must exist."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from freshloop.catalog.models import Category, Product

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
REDEEM_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,31}$")
MAX_PERCENT_BP = 10000


def is_int(value: Any) -> bool:
    """An integer that is not a bool (JSON `true` must not pass for 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def ids_check(
    model: type[Product] | type[Category],
    ids: Sequence[int],
    field: str,
    invalid: Callable[[str, str, Any], Exception],
) -> list[int]:
    """The distinct ids, sorted, all of which must exist; `invalid` builds the error."""
    wanted = sorted(set(ids))
    found = set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise invalid("限定的商品或类目不存在", field, missing)
    return wanted
