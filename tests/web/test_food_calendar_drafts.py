"""The calendar's one-click drafts (FD-6), composed by web across food, promotions, live and
scrm: every draft made once, none active or sent, all or nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from freshloop.content.models import ContentItem
from freshloop.core.permissions import Role
from freshloop.food.models import CalendarDraft
from freshloop.food.services import CalendarTemplateSpec, calendar_template_create
from freshloop.live.models import LiveSession, LiveStatus
from freshloop.promotions.models import Campaign, CouponTemplate
from freshloop.scrm.models import Broadcast, BroadcastStatus
from tests.factories import MARKETER, make_sku, make_staff_user

pytestmark = pytest.mark.django_db


def _template(*, message: str = "中秋礼盒已上架") -> int:
    gift = make_sku(name="中秋月饼礼盒", stock=10)
    return calendar_template_create(
        actor=MARKETER,
        spec=CalendarTemplateSpec(
            occasion="中秋节",
            name="中秋礼盒",
            product_ids=[gift.product_id],
            tier_threshold_fen=19900,
            tier_off_fen=3000,
            coupon_off_fen=1000,
            message_text=message,
            live_title="中秋礼盒专场",
        ),
    ).pk


def _marketer() -> Client:
    client = Client()
    client.force_login(make_staff_user("mkt", Role.MARKETER))
    return client


class TestTemplateApply:
    def test_one_click_makes_five_drafts_once(self) -> None:
        # given a 中秋 template with products, a tier, a coupon and a message
        template_id = _template()
        client = _marketer()
        # when the marketer generates the 2025 drafts (中秋 2025-10-06)
        url = f"/console/food/calendar/templates/{template_id}/apply"
        response = client.post(url, {"year": "2025"})
        assert response.status_code == 302
        # then a campaign, a coupon template, a live session, a broadcast and the copy in the
        # content library exist as drafts
        kinds = sorted(CalendarDraft.objects.values_list("kind", flat=True))
        assert kinds == ["broadcast", "campaign", "content", "coupon", "live"]
        assert Campaign.objects.get().is_active is False
        assert CouponTemplate.objects.get().is_active is False
        session = LiveSession.objects.get()
        assert session.status == LiveStatus.SCHEDULED
        assert session.title == "2025中秋礼盒专场"
        assert session.scheduled_at == dt.datetime(2025, 10, 5, 12, 0, tzinfo=dt.UTC)  # eve 20:00
        assert session.products.count() == 1
        broadcast = Broadcast.objects.get()
        assert broadcast.status == BroadcastStatus.DRAFT
        copy = ContentItem.objects.get()
        assert (copy.kind, copy.title) == ("copy", "2025中秋节·中秋礼盒 文案")
        assert sorted(copy.tags.values_list("name", flat=True)) == ["中秋节", "节令营销"]
        assert "主推：" in copy.body
        # and a second click makes nothing more
        client.post(url, {"year": "2025"})
        assert CalendarDraft.objects.count() == 5
        assert ContentItem.objects.count() == 1
        assert LiveSession.objects.count() == 1

    def test_a_failure_leaves_no_draft(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # given the broadcast step fails (e.g. a message scrm refuses)
        from freshloop.scrm.errors import BroadcastInvalid
        from freshloop.web import food_calendar_views

        def refuse(**_: object) -> None:
            raise BroadcastInvalid("群发内容不合规")

        monkeypatch.setattr(food_calendar_views, "broadcast_create", refuse)
        template_id = _template()
        response = _marketer().post(
            f"/console/food/calendar/templates/{template_id}/apply", {"year": "2025"}
        )
        # then the marketer sees why, and nothing was made
        assert response.status_code == 302
        assert CalendarDraft.objects.count() == 0
        assert ContentItem.objects.count() == 0
        assert Campaign.objects.count() == 0
        assert LiveSession.objects.count() == 0

    @pytest.mark.parametrize("year", ["", "abc", "1800", "99999"])
    def test_a_bad_year_is_refused(self, year: str) -> None:
        template_id = _template()
        response = _marketer().post(
            f"/console/food/calendar/templates/{template_id}/apply", {"year": year}
        )
        assert response.status_code == 302
        assert CalendarDraft.objects.count() == 0

    def test_unknown_template(self) -> None:
        response = _marketer().post("/console/food/calendar/templates/999/apply", {"year": "2025"})
        assert response.status_code == 302
