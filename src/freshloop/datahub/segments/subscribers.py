"""Segments react to OneID: a member merged away or erased leaves every segment at once (the
survivor's membership is decided by the next materialisation, over both histories), and the
PIPL export lists the segments a person is in."""

from __future__ import annotations

from freshloop.core.events import subscribe
from freshloop.datahub.segments.selectors import segments_export_section
from freshloop.datahub.segments.services import segment_members_forget
from freshloop.identity.events import IdentityMerged, PersonErased
from freshloop.identity.services import register_export_section


@subscribe(IdentityMerged, durable=True)
def segment_members_drop_merged(event: IdentityMerged) -> None:
    # The survivor's membership is decided by the next materialisation, over both histories.
    segment_members_forget(person_id=event.from_person_id)


@subscribe(PersonErased, durable=True)
def segment_members_drop_erased(event: PersonErased) -> None:
    segment_members_forget(person_id=event.person_id)


register_export_section("segments", segments_export_section)
