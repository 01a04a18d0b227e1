"""The host console page: who gets it, what it carries for the browser, and no HTML injection."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from freshloop.core.permissions import Role
from tests.factories import make_sku, make_staff_user
from tests.live.helpers import make_host
from tests.live.host.helpers import host_client, join, live_coupon, make_room, say

pytestmark = pytest.mark.django_db

HOST_JS = Path(__file__).resolve().parents[3] / "src/freshloop/live/static/live/host.js"


class TestHostConsole:
    def test_the_host_gets_the_console_with_its_controls(self) -> None:
        milk = make_sku(stock=3)
        coupon = live_coupon()
        session = make_room(skus=[milk], coupons=[coupon], start=False)

        response = host_client(make_host()).get(f"/console/live/{session.code}")

        page = response.content.decode()
        assert response.status_code == 200
        for testid in [
            "go-live",
            "end-live",
            f"pin-{milk.pk}",
            "flash-price",
            "flash-quantity",
            "flash-start",
            "stat-online",
            "stat-orders",
            "stat-gmv",
            "comment-list",
            "draw-start",
            f"coupon-drop-{coupon.pk}",
        ]:
            assert f'data-testid="{testid}"' in page, testid
        assert f"/api/v1/live/{session.code}/events" in page
        assert "vendor/echarts/echarts.min.js" in page
        assert "live/host.js" in page
        assert "csrftoken" in response.cookies

    def test_titles_and_nicknames_are_escaped(self) -> None:
        session = make_room()
        say(session, join(session, "<img src=x onerror=alert(1)>"), "<script>alert(1)</script>")
        session.title = "<script>alert('t')</script>"
        session.save(update_fields=["title"])

        page = host_client(make_host()).get(f"/console/live/{session.code}").content.decode()

        assert "<script>alert('t')</script>" not in page
        assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;" in page

    def test_comment_text_never_goes_through_inner_html(self) -> None:
        script = HOST_JS.read_text(encoding="utf-8")
        code_lines = [line for line in script.splitlines() if not line.strip().startswith("//")]
        assert not any("innerHTML" in line or "insertAdjacentHTML" in line for line in code_lines)
        assert "textContent" in script

    def test_another_host_gets_403(self) -> None:
        session = make_room()
        response = host_client(make_host("other-host")).get(f"/console/live/{session.code}")
        assert response.status_code == 403

    def test_an_admin_may_open_any_session(self) -> None:
        session = make_room()
        admin = make_staff_user("boss", Role.ADMIN)
        assert host_client(admin).get(f"/console/live/{session.code}").status_code == 200

    def test_an_operator_without_the_host_role_gets_403(self) -> None:
        session = make_room()
        client = host_client(make_staff_user("cs", Role.CUSTOMER_SERVICE))
        assert client.get(f"/console/live/{session.code}").status_code == 403

    def test_anonymous_goes_to_the_login_page(self) -> None:
        session = make_room()
        response = Client().get(f"/console/live/{session.code}")
        assert response.status_code == 302
        assert "/console/login/" in response["Location"]

    def test_an_unknown_session_is_404(self) -> None:
        assert host_client(make_host()).get("/console/live/L_nope").status_code == 404
