"""Signed lot tokens: what a pack's QR code carries to reach /trace/<token>.

The token is `<lot id>.<HMAC>`: Django's `Signer` (HMAC-SHA256 keyed by SECRET_KEY, with a salt of
its own so no other signed value of the project can be replayed as a lot token). It is stable —
printing the same lot twice gives the same code, and packs already on shelves keep working — and
it cannot be guessed or altered: changing the id, the signature, or swapping one lot's signature
onto another lot fails the check. Rotating SECRET_KEY with the old key in SECRET_KEY_FALLBACKS
keeps printed codes valid.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core import signing

TOKEN_SALT = "freshloop.food.trace.lot"  # noqa: S105 - a salt (a namespace), not a secret
_SEPARATOR = "."
# An id, the separator and a url-safe base64 SHA-256 HMAC (43 characters): nothing else is looked at.
TOKEN_SHAPE = re.compile(r"^[1-9][0-9]{0,17}\.[A-Za-z0-9_-]{43}$")


class TokenMalformed(ValueError):
    """Not a lot token at all (wrong shape): the page says the code is not ours."""


class TokenForged(ValueError):
    """Shaped like a token but the signature does not match: guessed or altered."""


def _signer() -> signing.Signer:
    return signing.Signer(salt=TOKEN_SALT, sep=_SEPARATOR, algorithm="sha256")


def lot_token(batch_id: int) -> str:
    """The signed token of a lot, the same every time for the same lot and key."""
    if batch_id <= 0:
        raise ValueError("a lot id is positive")
    return _signer().sign(str(batch_id))


def lot_token_read(token: str) -> int:
    """The lot id a token was signed for, or TokenMalformed / TokenForged."""
    token = (token or "").strip()
    if len(token) > 80 or not TOKEN_SHAPE.match(token):
        raise TokenMalformed(token[:20])
    try:
        value = _signer().unsign(token)
    except signing.BadSignature:
        raise TokenForged(token.split(_SEPARATOR, 1)[0]) from None
    return int(value)


def lot_trace_url(batch_id: int) -> str:
    """The full address a pack's QR code encodes (FRESHLOOP_PUBLIC_BASE_URL + /trace/<token>)."""
    return f"{settings.FRESHLOOP.public_base_url}/trace/{lot_token(batch_id)}"
