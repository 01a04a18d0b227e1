"""The console pages of community operations: who may open them and what they show."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.community.models import CustomerGroup, GroupMember, JoinCode
from freshloop.community.services import JoinCodeGroupSpec, join_code_create
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from tests.community.helpers import committed, make_group
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db


def logged_in(role: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(role.value, role))
    return client


class TestPages:
    def test_anonymous_visitors_go_to_the_login_page(self) -> None:
        response = Client().get("/console/community/")
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")

    def test_customer_service_gets_the_forbidden_page(self) -> None:
        assert logged_in(Role.CUSTOMER_SERVICE).get("/console/community/").status_code == 403

    @pytest.mark.parametrize(
        "path",
        ["", "groups/wr_a", "join-codes/", "welcome/", "topics/", "challenges/"],
    )
    def test_each_page_opens(self, path: str) -> None:
        make_group("wr_a", customers=2)
        response = logged_in(Role.COMMUNITY_MANAGER).get(f"/console/community/{path}")
        assert response.status_code == 200
        assert "社群" in response.content.decode()

    def test_a_join_code_is_created_from_the_form_and_shows_its_qr(self) -> None:
        make_group("wr_a")
        client = logged_in(Role.COMMUNITY_MANAGER)
        response = client.post(
            "/console/community/join-codes/",
            {
                "name": "海报活码",
                "chat_id": ["wr_a", "", ""],
                "qr_content": ["https://work.weixin.qq.com/gm/a", "", ""],
                "threshold": ["150", "200", "200"],
            },
        )
        code = JoinCode.objects.get()
        assert response.status_code == 302
        assert response["Location"] == f"/console/community/join-codes/{code.pk}"
        page = client.get(response["Location"]).content.decode()
        assert 'data-testid="join-code-qr-image"' in page
        assert "data:image/svg+xml" in page

    def test_a_refused_form_answers_422_with_the_reason(self) -> None:
        make_group("wr_a")
        client = logged_in(Role.COMMUNITY_MANAGER)
        response = client.post(
            "/console/community/join-codes/",
            {
                "name": "活码",
                "chat_id": ["wr_a"],
                "qr_content": ["https://x.cn"],
                "threshold": ["500"],
            },
        )
        assert response.status_code == 422
        assert "满员人数应在 1 到 200 之间" in response.content.decode()
        assert client.get("/console/community/groups/wr_nope").status_code == 404


class TestSandboxScan:
    def test_a_simulated_scan_joins_the_current_group_through_the_callback_path(self) -> None:
        make_group("wr_a", customers=1)
        make_group("wr_b", first=20)
        code = join_code_create(
            name="活码",
            groups=[
                JoinCodeGroupSpec(chat_id="wr_a", qr_content="https://x.cn/a", threshold=2),
                JoinCodeGroupSpec(chat_id="wr_b", qr_content="https://x.cn/b", threshold=200),
            ],
            actor=Actor.system("test"),
        )
        client = logged_in(Role.COMMUNITY_MANAGER)
        url = f"/console/community/join-codes/{code.pk}"

        with committed():
            first = client.post(url, {"action": "sandbox_scan"})
        with committed():
            client.post(url, {"action": "sandbox_scan"})

        assert first.status_code == 302
        counts = dict(CustomerGroup.objects.values_list("chat_id", "customer_count"))
        assert (counts["wr_a"], counts["wr_b"]) == (2, 1)  # the second scan went to wr_b
        scanned = GroupMember.objects.filter(userid__startswith="wm_scan_")
        assert scanned.count() == 2
        assert all(member.person_id for member in scanned)
        assert JoinCode.objects.get().scans == 2
