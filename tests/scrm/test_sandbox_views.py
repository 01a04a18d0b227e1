"""The SCRM console pages: the WeCom sandbox's simulated phones (who may see them, unknown
customers, the 模拟客户添加员工 form) and the staff task list."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.identity.selectors import person_by_identifier
from freshloop.messaging.wecom import SandboxWecomClient, WecomContent, WecomLink, wecom_client
from freshloop.scrm.models import StaffTask, TaskStatus, WecomContact
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db

MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def console(role: Role | None, name: str = "operator") -> Client:
    client = Client()
    client.force_login(make_staff_user(name, *([role] if role else [])))
    return client


@pytest.fixture
def community_manager() -> Client:
    return console(Role.COMMUNITY_MANAGER, "community")


@pytest.fixture
def added(django_capture_on_commit_callbacks: Any) -> Any:
    """Post the 模拟客户添加员工 form; what the request commits is delivered (the callback
    event's durable handler runs as it would in the web process)."""

    def post(client: Client, **form: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/console/scrm/sandbox/", {"staff_userid": "fl_staff_lin", **form})

    return post


class TestSandboxAccess:
    @pytest.mark.parametrize("role", [Role.COMMUNITY_MANAGER, Role.CUSTOMER_SERVICE, Role.ADMIN])
    def test_scrm_roles_see_the_sandbox_customers(self, role: Role) -> None:
        response = console(role).get("/console/scrm/sandbox/")
        assert response.status_code == 200
        assert "wm_sandbox_0001" in response.content.decode()
        assert "王阿姨" in response.content.decode()

    @pytest.mark.parametrize("role", [Role.MARKETER, Role.LIVE_HOST, None])
    def test_other_operators_are_refused(self, role: Role | None) -> None:
        assert console(role).get("/console/scrm/sandbox/").status_code == 403
        assert console(role, "other").get("/console/scrm/tasks/").status_code == 403

    def test_anonymous_visitors_go_to_the_login_page(self) -> None:
        response = Client().get("/console/scrm/sandbox/wm_sandbox_0001")
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")

    def test_with_a_real_corp_there_is_no_simulated_phone(
        self, community_manager: Client, settings: Any
    ) -> None:
        real = dataclasses.replace(
            settings.FRESHLOOP.wecom, corp_id="ww_real_corp", contact_secret="secret"
        )
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, wecom=real)
        assert community_manager.get("/console/scrm/sandbox/").status_code == 404
        assert community_manager.get("/console/scrm/sandbox/wm_sandbox_0001").status_code == 404


class TestSandboxPhone:
    def test_an_unknown_external_userid_is_404(self, community_manager: Client) -> None:
        response = community_manager.get("/console/scrm/sandbox/wm_nobody")
        assert response.status_code == 404
        huge = community_manager.get("/console/scrm/sandbox/" + "x" * 5000)
        assert huge.status_code == 404

    def test_the_phone_shows_the_staff_message_with_its_link_card_newest_last(
        self, community_manager: Client
    ) -> None:
        # given two 1:1 messages from 林 to 王阿姨, the second with a product card
        with clock.frozen(MORNING):
            wecom_client().add_msg_template(
                chat_type="single",
                sender="fl_staff_lin",
                external_userids=["wm_sandbox_0001"],
                content=WecomContent(text="早上好"),
            )
        with clock.frozen(MORNING + dt.timedelta(minutes=5)):
            wecom_client().add_msg_template(
                chat_type="single",
                sender="fl_staff_lin",
                external_userids=["wm_sandbox_0001"],
                content=WecomContent(
                    text="您在直播间看中的宝贝还在等您～",
                    attachments=(
                        WecomLink(title="牧场鲜牛奶", desc="1L · ¥39.90", url="https://x/m/p/1"),
                    ),
                ),
            )
            # and a group message in 王阿姨's group
            wecom_client().add_msg_template(
                chat_type="group", sender="fl_staff_lin", content=WecomContent(text="群福利")
            )
        # when the operator opens her phone
        page = community_manager.get("/console/scrm/sandbox/wm_sandbox_0001").content.decode()
        # then the messages are there, oldest first, the card with its title and desc
        assert page.index("早上好") < page.index("还在等您") < page.index("群福利")
        assert "牧场鲜牛奶" in page
        assert "1L · ¥39.90" in page
        assert "鲜环福利群 1 群" in page
        # and the polled part holds the same messages without the page around them
        part = community_manager.get("/console/scrm/sandbox/wm_sandbox_0001?part=messages")
        assert "还在等您" in part.content.decode()
        assert "<html" not in part.content.decode()

    def test_someone_elses_message_is_not_on_this_phone(self, community_manager: Client) -> None:
        wecom_client().add_msg_template(
            chat_type="single",
            sender="fl_staff_zhou",
            external_userids=["wm_sandbox_0003"],
            content=WecomContent(text="给陈小姐的"),
        )
        page = community_manager.get("/console/scrm/sandbox/wm_sandbox_0001").content.decode()
        assert "给陈小姐的" not in page
        assert "还没有收到消息" in page


class TestSimulatedContactAdd:
    def test_a_new_customer_gets_a_oneid_through_the_callback_path(
        self, community_manager: Client, added: Any
    ) -> None:
        # when a customer 小美 adds 林 from the form
        response = added(community_manager, name="小美", phone="")
        # then the operator lands on 小美's phone
        assert response.status_code == 302
        external_userid = response["Location"].rsplit("/", 1)[1]
        assert external_userid.startswith("wm_sandbox_")
        # and the sandbox knows her as 林's customer
        detail = SandboxWecomClient().external_contact_get(external_userid=external_userid)
        assert detail.name == "小美"
        assert [follow.userid for follow in detail.follow_users] == ["fl_staff_lin"]
        # and scrm, handling the callback event, ties her to a OneID
        contact = WecomContact.objects.get(external_userid=external_userid)
        assert (contact.follow_userid, contact.state) == ("fl_staff_lin", "sandbox_phone")
        listing = community_manager.get("/console/scrm/sandbox/").content.decode()
        assert contact.person.one_id in listing

    def test_a_customer_with_a_known_phone_joins_that_persons_oneid(
        self, community_manager: Client, added: Any
    ) -> None:
        shopper = make_person(phone="13700001004")
        response = added(community_manager, name="老顾客", phone="137 0000 1004")
        assert response.status_code == 302
        external_userid = response["Location"].rsplit("/", 1)[1]
        contact = WecomContact.objects.get(external_userid=external_userid)
        assert contact.person_id == shopper.pk
        assert (
            person_by_identifier(
                identifier_type="wecom_external_userid",
                value=external_userid,
                scope=SandboxWecomClient.corp_id,
            )
            == shopper
        )

    @pytest.mark.parametrize(
        ("form", "field", "message"),
        [
            ({"name": "  "}, "name", "请填写客户的微信昵称"),
            ({"name": "名" * 21}, "name", "微信昵称最多 20 个字"),
            ({"name": "小美", "staff_userid": "nobody"}, "staff_userid", "请选择沙箱企业里的员工"),
            ({"name": "小美", "phone": "12345"}, "phone", "手机号格式不正确"),
            ({"name": "小美", "phone": "13912345678"}, "phone", "没有找到使用这个手机号的顾客"),
        ],
    )
    def test_bad_input_is_refused_in_chinese_and_adds_nobody(
        self,
        community_manager: Client,
        added: Any,
        form: dict[str, str],
        field: str,
        message: str,
    ) -> None:
        response = added(community_manager, **form)
        assert response.status_code == 422
        assert message in response.content.decode()
        assert 'aria-invalid="true"' in response.content.decode()
        assert not WecomContact.objects.exists()
        assert len(SandboxWecomClient().external_contact_list(userid="fl_staff_lin")) == 2


def make_task(title: str = "回访：直播间加购仍未支付", minutes: int = 120) -> StaffTask:
    now = clock.now()
    return StaffTask.objects.create(
        person=make_person(),
        title=title,
        assignee="fl_staff_lin",
        due_at=now + dt.timedelta(minutes=minutes),
        source="journey:1:v1:step:5",
        created_at=now,
    )


class TestTaskList:
    def test_customer_service_sees_open_tasks_and_marks_one_done(self) -> None:
        client = console(Role.CUSTOMER_SERVICE, "cs")
        later, sooner = make_task("稍后回访", 240), make_task("先回访", 30)
        page = client.get("/console/scrm/tasks/").content.decode()
        assert page.index("先回访") < page.index("稍后回访")
        response = client.post(f"/console/scrm/tasks/{sooner.pk}/done", follow=True)
        assert "已完成：先回访" in response.content.decode()
        sooner.refresh_from_db()
        assert sooner.status == TaskStatus.DONE
        assert (
            "先回访"
            not in client.get("/console/scrm/tasks/")
            .content.decode()
            .split('data-testid="staff-tasks"')[1]
        )
        assert later.status == TaskStatus.OPEN

    def test_an_unknown_task_says_so(self) -> None:
        client = console(Role.CUSTOMER_SERVICE, "cs")
        response = client.post("/console/scrm/tasks/999999/done", follow=True)
        assert "任务不存在" in response.content.decode()

    def test_marking_done_needs_a_post(self) -> None:
        task = make_task()
        response = console(Role.CUSTOMER_SERVICE, "cs").get(f"/console/scrm/tasks/{task.pk}/done")
        assert response.status_code == 405

    def test_the_customer_service_home_shows_the_task_card(self) -> None:
        make_task("先回访", 30)
        client = console(Role.CUSTOMER_SERVICE, "cs")
        page = client.get("/console/home/customer_service/").content.decode()
        assert "跟进任务" in page
        assert "先回访" in page
        assert "/console/scrm/tasks/" in page
