"""Back office for live sessions: the pages render, creating goes through the service, and the
moderation actions go through the host services."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.live.flash_sale.services import flash_sale_start
from freshloop.live.host import services as host
from freshloop.live.models import (
    FlashSaleStatus,
    LiveComment,
    LiveSession,
    LiveStatus,
    LiveViewer,
)
from tests.factories import make_sku, make_staff_user
from tests.live.helpers import make_host
from tests.live.host.helpers import HOST, join, live_coupon, make_room, say

pytestmark = pytest.mark.django_db


class TestLiveAdminPages:
    def test_every_list_and_detail_renders(self, admin_client: Client) -> None:
        milk = make_sku(price_fen=3000, stock=10)
        session = make_room(skus=[milk], coupons=[live_coupon()])
        comment = say(session, join(session, "鲜友"))
        draw = host.lucky_draw(session=session, prize="鲜奶", winners_count=1, actor=HOST)
        sale = flash_sale_start(
            session=session, sku=milk, price_fen=990, quantity=5, duration_seconds=60, actor=HOST
        )
        for url in [
            "/admin/live/livesession/",
            f"/admin/live/livesession/{session.pk}/change/",
            "/admin/live/livesession/add/",
            "/admin/live/livecomment/",
            f"/admin/live/livecomment/{comment.pk}/change/",
            "/admin/live/liveviewer/",
            "/admin/live/luckydraw/",
            f"/admin/live/luckydraw/{draw.pk}/change/",
            "/admin/live/flashsale/",
            f"/admin/live/flashsale/{sale.pk}/change/",
        ]:
            response = admin_client.get(url)
            assert response.status_code == 200, url
        detail = admin_client.get(f"/admin/live/livesession/{session.pk}/change/").content.decode()
        assert f"/console/live/{session.code}" in detail
        assert "直播专享立减10元" in detail


class TestLiveSessionAdd:
    def test_creating_goes_through_the_service(self, admin_client: Client) -> None:
        milk, eggs = make_sku(stock=5), make_sku(name="土鸡蛋", stock=5)
        coupon = live_coupon()
        starts = clock.to_shanghai(clock.now() + dt.timedelta(days=1))

        response = admin_client.post(
            "/admin/live/livesession/add/",
            {
                "title": "周五会员直播",
                "description": "",
                "cover_url": "",
                "host": make_host().pk,
                "scheduled_at_0": starts.strftime("%Y-%m-%d"),
                "scheduled_at_1": starts.strftime("%H:%M:%S"),
                "skus": [eggs.pk, milk.pk],
                "coupon_templates": [coupon.pk],
            },
        )

        assert response.status_code == 302, response.content.decode()[:2000]
        session = LiveSession.objects.get(title="周五会员直播")
        assert session.code.startswith("L")
        assert session.status == "scheduled"
        assert sorted(session.products.values_list("sku_id", flat=True)) == sorted(
            [milk.pk, eggs.pk]
        )
        assert list(session.coupon_templates.all()) == [coupon]
        assert AuditLog.objects.filter(
            action="live.session_create", target_id=str(session.pk)
        ).exists()

    def test_an_uploaded_cover_goes_through_the_cover_service(self, admin_client: Client) -> None:
        starts = clock.to_shanghai(clock.now() + dt.timedelta(days=1))
        picture = io.BytesIO()
        Image.new("RGB", (1200, 800), (240, 200, 120)).save(picture, "JPEG")
        form = {
            "title": "带封面的直播",
            "cover_url": "",
            "host": make_host().pk,
            "scheduled_at_0": starts.strftime("%Y-%m-%d"),
            "scheduled_at_1": starts.strftime("%H:%M:%S"),
            "skus": [make_sku(stock=5).pk],
        }
        bad = admin_client.post(
            "/admin/live/livesession/add/",
            {**form, "cover_upload": SimpleUploadedFile("c.jpg", b"text", "image/jpeg")},
        )
        assert bad.status_code == 200
        assert "不是有效的图片" in bad.content.decode()
        assert not LiveSession.objects.exists()

        response = admin_client.post(
            "/admin/live/livesession/add/",
            {**form, "cover_upload": SimpleUploadedFile("c.jpg", picture.getvalue(), "image/jpeg")},
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        session = LiveSession.objects.get(title="带封面的直播")
        assert session.cover_url.endswith("/w1080.jpg")
        assert AuditLog.objects.filter(action="live.session_cover_upload").exists()

    def test_an_empty_form_is_an_error_not_a_session(self, admin_client: Client) -> None:
        response = admin_client.post("/admin/live/livesession/add/", {"title": ""})
        assert response.status_code == 200
        assert not LiveSession.objects.exists()


class TestLiveAdminActions:
    def test_hide_comments_and_ban_viewers(self, admin_client: Client) -> None:
        session = make_room()
        viewer = join(session, "捣乱的")
        comment = say(session, viewer, "刷屏")

        admin_client.post(
            "/admin/live/livecomment/",
            {"action": "hide", "_selected_action": [comment.pk]},
        )
        admin_client.post(
            "/admin/live/liveviewer/",
            {"action": "ban", "_selected_action": [viewer.pk]},
        )

        assert LiveComment.objects.get(pk=comment.pk).deleted_at is not None
        assert LiveViewer.objects.get(pk=viewer.pk).banned

    def test_go_live_refused_for_a_live_session_is_a_message(self, admin_client: Client) -> None:
        session = make_room()
        response = admin_client.post(
            "/admin/live/livesession/",
            {"action": "go_live", "_selected_action": [session.pk]},
            follow=True,
        )
        assert "只有预告中的直播可以开播" in response.content.decode()

    def test_end_flash_sales(self, admin_client: Client) -> None:
        milk = make_sku(price_fen=3000, stock=10)
        session = make_room(skus=[milk])
        sale = flash_sale_start(
            session=session, sku=milk, price_fen=990, quantity=5, duration_seconds=60, actor=HOST
        )
        admin_client.post(
            "/admin/live/flashsale/", {"action": "end", "_selected_action": [sale.pk]}
        )
        sale.refresh_from_db()
        assert sale.status == FlashSaleStatus.ENDED

    def test_an_operator_who_is_not_the_host_is_refused_row_by_row(self) -> None:
        # given a staff member who may see the live admin but hosts neither session
        other = make_staff_user("other-host", Role.LIVE_HOST)
        other.user_permissions.add(
            Permission.objects.get(codename="view_livesession", content_type__app_label="live")
        )
        client = Client()
        client.force_login(other)
        mine, theirs = make_room(start=False, host=other), make_room(start=False)
        # when they go live on both
        response = client.post(
            "/admin/live/livesession/",
            {"action": "go_live", "_selected_action": [mine.pk, theirs.pk]},
            follow=True,
        )
        # then only their own session goes live; the other is a message
        assert "只有本场主播或管理员可以操作这场直播" in response.content.decode()
        statuses = dict(LiveSession.objects.values_list("pk", "status"))
        assert statuses == {mine.pk: LiveStatus.LIVE, theirs.pk: LiveStatus.SCHEDULED}
