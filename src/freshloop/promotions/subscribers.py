"""How promotions reacts to other modules: OneID merges and PIPL export.

Coupons hold no personal data (a person reference, amounts, order refs), so erasure
(`PersonErased`) leaves them as anonymous facts for budget and campaign reporting.
"""

from __future__ import annotations

from freshloop.core.events import subscribe
from freshloop.identity.events import IdentityMerged
from freshloop.identity.services import register_export_section
from freshloop.promotions.selectors import coupons_export_section
from freshloop.promotions.services import promotions_person_repoint


@subscribe(IdentityMerged, durable=True)
def repoint_coupons(event: IdentityMerged) -> None:
    promotions_person_repoint(
        from_person_id=event.from_person_id, into_person_id=event.into_person_id
    )


register_export_section("coupons", coupons_export_section)
