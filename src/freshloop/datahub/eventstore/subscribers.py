"""The event store reacts to PIPL erasure: the person's events stay as anonymous facts under
their person id, with every personal or free-text property scrubbed (`eventstore.privacy`)."""

from __future__ import annotations

from freshloop.core.events import subscribe
from freshloop.datahub.eventstore.services import event_store_erase_person
from freshloop.identity.events import PersonErased
from freshloop.identity.models import Person, PersonStatus


@subscribe(PersonErased, durable=True, background=True)
def events_erased(event: PersonErased) -> None:
    """Durable, on the worker: written with the erasure, delivered at least once (the scrub
    is idempotent), and it rewrites the person's events in the store under its locks — work
    for a background job, not for the operator's request."""
    if Person.objects.filter(pk=event.person_id, status=PersonStatus.ERASED).exists():
        event_store_erase_person(person_id=event.person_id)
