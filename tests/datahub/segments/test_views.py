"""The segment console pages: the list with tag distributions and the builder. The rules
and their evaluation are proven in the selector and service tests; these prove the pages render,
to whom."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.models import Segment
from freshloop.datahub.segments.services import segment_materialise, segment_save
from tests.datahub.helpers import console_client, paid_buyer

pytestmark = pytest.mark.django_db

OPERATOR = Actor.system("tests")


@pytest.fixture
def marketer() -> Client:
    return console_client(Role.MARKETER, username="marketer")


@pytest.fixture
def customer_service() -> Client:
    return console_client(Role.CUSTOMER_SERVICE, username="cs")


class TestSegmentPages:
    def test_the_list_shows_saved_segments_and_tag_distributions(
        self, store: EventStore, marketer: Client
    ) -> None:
        paid_buyer(store)
        segment = segment_save(
            name="上海客户",
            definition={
                "op": "and",
                "rules": [{"kind": "tag", "field": "province", "operator": "eq", "value": "上海"}],
            },
            actor=OPERATOR,
        )
        segment_materialise(segment=segment, store=store)

        page = marketer.get("/console/data/segments/").content.decode()

        assert "上海客户" in page
        assert f"/console/data/segments/{segment.pk}" in page
        assert '"lifecycle"' in page  # the distribution chart's data

    def test_the_builder_page_carries_the_validator_menus(
        self, store: EventStore, marketer: Client
    ) -> None:
        response = marketer.get("/console/data/segments/new")

        page = response.content.decode()
        assert response.status_code == 200
        assert 'id="builder-config"' in page
        assert "distinct_live_sessions" in page
        assert "datahub/segment_builder.js" in page

    def test_an_unknown_segment_is_a_404(self, store: EventStore, marketer: Client) -> None:
        assert marketer.get("/console/data/segments/999999").status_code == 404

    def test_customer_service_cannot_build_segments(
        self, store: EventStore, customer_service: Client
    ) -> None:
        assert customer_service.get("/console/data/segments/").status_code == 403
        assert not Segment.objects.exists()
