"""What the data hub offers the WeCom tag sync: a `ManualTagChanged` event for each real change
of a manual tag (none for a repeat), and the computed tag values of a few people."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput
from freshloop.core.events import DomainEvent, subscribe, unsubscribe
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.tags.events import ManualTagChanged
from freshloop.datahub.tags.selectors import person_tags_get, tag_values_for_people
from freshloop.datahub.tags.services import manual_tag_add, manual_tag_remove
from tests.datahub.helpers import paid_buyer
from tests.factories import make_person

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="5", label="运营小王")


@pytest.fixture
def changes() -> Iterator[list[ManualTagChanged]]:
    seen: list[ManualTagChanged] = []

    def record(event: DomainEvent) -> None:
        assert isinstance(event, ManualTagChanged)
        seen.append(event)

    subscribe(ManualTagChanged, in_transaction=True)(record)
    yield seen
    unsubscribe(ManualTagChanged, record)


class TestManualTagChanged:
    def test_published_once_per_real_change_with_the_actor(
        self, changes: list[ManualTagChanged]
    ) -> None:
        person = make_person()
        manual_tag_add(person=person, tag=" 高净值 ", actor=OPERATOR)
        manual_tag_add(person=person, tag="高净值", actor=OPERATOR)  # already there
        manual_tag_remove(person=person, tag="高净值", actor=Actor.system("scrm.wecom_tags"))
        manual_tag_remove(person=person, tag="高净值", actor=OPERATOR)  # already gone
        assert [(e.person_id, e.tag, e.added, e.actor_type, e.actor_id) for e in changes] == [
            (person.pk, "高净值", True, "user", "5"),
            (person.pk, "高净值", False, "system", "scrm.wecom_tags"),
        ]


class TestTagValuesForPeople:
    def test_values_of_those_who_have_one(self, store: EventStore) -> None:
        buyer = paid_buyer(store)
        nobody = make_person()
        tags = person_tags_get(person_id=buyer.pk, store=store)
        assert tags is not None
        assert tag_values_for_people(
            column="rfm_segment", person_ids=[buyer.pk, nobody.pk], store=store
        ) == {buyer.pk: tags["rfm_segment"]}
        assert tag_values_for_people(column="rfm_segment", person_ids=[], store=store) == {}

    def test_only_text_columns(self, store: EventStore) -> None:
        with pytest.raises(InvalidInput):
            tag_values_for_people(column="monetary_fen", person_ids=[1], store=store)
        with pytest.raises(InvalidInput):
            tag_values_for_people(column="person_id; DROP TABLE x", person_ids=[1], store=store)
