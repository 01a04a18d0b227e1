"""The buyer's side of pickup (GB-1/GB-2): on the H5 order page, an order attributed to a
group leader shows where to collect it and the pickup code, with the code as a QR for the
leader's scanner. Read through commission's buyer-scoped selector: only the buyer's own
order is ever found."""

from __future__ import annotations

import segno

from freshloop.groupbuy.commission.selectors import BuyerPickup, order_pickup_for_buyer
from freshloop.identity.models import Person


def qr_data_uri(content: str, *, scale: int = 6) -> str:
    """An SVG QR code as a data: URI (the page embeds it; nothing is stored)."""
    # make_qr, not make: segno would pick a Micro QR for 8 digits, which phone scanners and
    # the browser's BarcodeDetector do not read.
    return str(segno.make_qr(content, error="m").svg_data_uri(scale=scale, border=2))


def buyer_pickup(*, person: Person, order_no: str) -> dict[str, BuyerPickup | str | None]:
    """`pickup` (None when the order is not a leader's) and `pickup_qr` for the template."""
    pickup = order_pickup_for_buyer(person_id=person.pk, order_no=order_no)
    return {
        "pickup": pickup,
        "pickup_qr": qr_data_uri(pickup.pickup_code, scale=5) if pickup is not None else "",
    }
