"""Public identifiers: sortable by creation time, unguessable, safe in URLs."""

from __future__ import annotations

import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return `<prefix>_<26 chars>`: 48-bit millisecond time + 80 random bits (ULID layout).

    Time first means ids created later sort later, which keeps B-tree inserts local.
    """
    millis = int(time.time() * 1000) & ((1 << 48) - 1)
    randomness = secrets.randbits(80)
    return f"{prefix}_{_encode(millis, 10)}{_encode(randomness, 16)}"
