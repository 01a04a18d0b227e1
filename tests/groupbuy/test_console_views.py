"""The group-buying console at /console/groupbuy/: every page renders for a community manager,
is refused to customer service (403) and sends an anonymous visitor to the login page; actions
go through the services (audited) and bad input is a Chinese message, never a 500."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.groupbuy.commission.models import SettlementRun, SettlementStatus
from freshloop.groupbuy.commission.services import accruals_mature
from freshloop.groupbuy.deals.models import DealStatus, GroupDeal
from freshloop.groupbuy.models import GroupLeader, LeaderStatus
from freshloop.groupbuy.presale.models import Presale, PresaleStatus
from tests.factories import make_person, make_sku, make_staff_user
from tests.groupbuy.commission.helpers import Committed, committed, customer_of, paid_order, rule
from tests.groupbuy.deals.factories import make_deal
from tests.groupbuy.factories import make_applicant, make_leader
from tests.groupbuy.presale.helpers import IN_DEPOSIT, make_presale, paid_deposit

pytestmark = pytest.mark.django_db
__all__ = ["committed"]

PAGES = [
    "/console/groupbuy/",
    "/console/groupbuy/leaders/",
    "/console/groupbuy/deals/",
    "/console/groupbuy/presales/",
    "/console/groupbuy/runs/",
]
START = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 Shanghai


def operator(role: Role, name: str = "community") -> Client:
    make_staff_user(name, role)
    client = Client()
    client.login(username=name, password="pass-1234")
    return client


@pytest.fixture
def manager() -> Client:
    return operator(Role.COMMUNITY_MANAGER)


def notices(response: object) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


class TestAccess:
    @pytest.mark.parametrize("url", PAGES)
    def test_a_community_manager_sees_every_page(self, manager: Client, url: str) -> None:
        response = manager.get(url)
        assert response.status_code == 200
        assert "社区团购" in response.content.decode()

    @pytest.mark.parametrize("url", PAGES)
    def test_customer_service_is_refused(self, url: str) -> None:
        assert operator(Role.CUSTOMER_SERVICE, "cs").get(url).status_code == 403

    @pytest.mark.parametrize("url", PAGES)
    def test_an_anonymous_visitor_is_sent_to_login(self, url: str) -> None:
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")

    def test_customer_service_cannot_act(self) -> None:
        leader = make_applicant()
        response = operator(Role.CUSTOMER_SERVICE, "cs").post(
            f"/console/groupbuy/leaders/{leader.leader_no}/approve"
        )
        assert response.status_code == 403
        assert GroupLeader.objects.get(pk=leader.pk).status == LeaderStatus.APPLIED

    def test_the_community_manager_home_links_the_console(self, manager: Client) -> None:
        page = manager.get("/console/home/community_manager/").content.decode()
        assert 'href="/console/groupbuy/"' in page


class TestOverview:
    def test_gmv_by_leader_and_pickup_point_from_attributed_orders(
        self, manager: Client, committed: Committed
    ) -> None:
        leader = make_leader(display_name="王阿姨团购", pickup_name="幸福里自提点")
        paid_order(committed, customer_of(leader), (make_sku(price_fen=4500, stock=5), 2))
        response = manager.get("/console/groupbuy/")
        chart = response.context["chart"]
        assert chart["leaders"][0]["name"] == "王阿姨团购"
        assert chart["leaders"][0]["gmv_fen"] == 9000
        assert chart["points"][0]["pickup_name"] == "幸福里自提点"
        assert 'data-testid="leader-gmv-chart"' in response.content.decode()


class TestLeaders:
    def test_list_shows_status_level_customers_and_gmv(
        self, manager: Client, committed: Committed
    ) -> None:
        leader = make_leader(display_name="李叔生鲜")
        paid_order(committed, customer_of(leader), (make_sku(price_fen=3000, stock=5), 1))
        rows = manager.get("/console/groupbuy/leaders/").context["rows"]
        row = next(row for row in rows if row["leader"].pk == leader.pk)
        assert (row["customers"], row["gmv_fen"]) == (1, 3000)

    def test_approve_through_the_service_audited(self, manager: Client) -> None:
        leader = make_applicant()
        response = manager.post(
            f"/console/groupbuy/leaders/{leader.leader_no}/approve", follow=True
        )
        assert GroupLeader.objects.get(pk=leader.pk).status == LeaderStatus.ACTIVE
        assert any("已通过" in text for text in notices(response))
        assert AuditLog.objects.filter(action__startswith="groupbuy.leader").exists()

    def test_suspend_without_a_reason_is_refused_in_chinese(self, manager: Client) -> None:
        leader = make_leader()
        response = manager.post(
            f"/console/groupbuy/leaders/{leader.leader_no}/suspend", {"reason": " "}, follow=True
        )
        assert response.status_code == 200
        assert GroupLeader.objects.get(pk=leader.pk).status == LeaderStatus.ACTIVE
        assert any("原因" in text for text in notices(response))

    def test_suspend_then_reinstate_then_set_level(self, manager: Client) -> None:
        leader = make_leader()
        base = f"/console/groupbuy/leaders/{leader.leader_no}"
        manager.post(f"{base}/suspend", {"reason": "自提点装修"})
        assert GroupLeader.objects.get(pk=leader.pk).status == LeaderStatus.SUSPENDED
        manager.post(f"{base}/reinstate")
        manager.post(f"{base}/level", {"level_code": "gold"})
        found = GroupLeader.objects.select_related("level").get(pk=leader.pk)
        assert (found.status, found.level.code) == (LeaderStatus.ACTIVE, "gold")

    def test_approving_an_active_leader_is_a_readable_refusal(self, manager: Client) -> None:
        leader = make_leader()
        response = manager.post(
            f"/console/groupbuy/leaders/{leader.leader_no}/approve", follow=True
        )
        assert response.status_code == 200
        assert notices(response) == ["团长当前为「营业中」，不能执行此操作"]

    def test_an_unknown_leader_or_action_is_not_a_500(self, manager: Client) -> None:
        assert manager.post("/console/groupbuy/leaders/NOPE/approve").status_code == 302
        leader = make_applicant()
        manager.post(f"/console/groupbuy/leaders/{leader.leader_no}/delete")
        assert GroupLeader.objects.get(pk=leader.pk).status == LeaderStatus.APPLIED


def deal_form(sku_id: int, **overrides: str) -> dict[str, str]:
    now = clock.to_shanghai(clock.now())
    form = {
        "title": "阳澄湖大闸蟹拼团",
        "sku_id": str(sku_id),
        "tiers": "2:39.90, 4:35.90",
        "quantity": "20",
        "group_minutes": "60",
        "per_person_limit": "1",
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
    }
    return form | overrides


class TestDeals:
    def test_create_a_deal_from_the_form(self, manager: Client) -> None:
        sku = make_sku(price_fen=4990, stock=50, name="大闸蟹")
        response = manager.post("/console/groupbuy/deals/", deal_form(sku.pk))
        deal = GroupDeal.objects.get()
        assert response.status_code == 302
        assert response["Location"] == f"/console/groupbuy/deals/{deal.deal_no}"
        assert deal.tiers == [{"size": 2, "price_fen": 3990}, {"size": 4, "price_fen": 3590}]
        assert deal.created_by == "community"

    @pytest.mark.parametrize(
        ("field", "value", "shown"),
        [
            ("tiers", "两人39", "阶梯价格式"),
            ("tiers", "2:1e9999999", "阶梯价格式"),
            ("quantity", "-3", "活动库存须为正整数"),
            ("ends_at", "明天", "请填写日期和时间"),
            ("title", "", "请填写活动名称"),
            ("tiers", "2:59.90", "原价"),
        ],
    )
    def test_bad_input_is_shown_under_its_field(
        self, manager: Client, field: str, value: str, shown: str
    ) -> None:
        sku = make_sku(price_fen=4990, stock=50)
        response = manager.post("/console/groupbuy/deals/", deal_form(sku.pk, **{field: value}))
        assert response.status_code in (409, 422)
        assert shown in response.context["errors"].get(field, "")
        assert shown in response.content.decode()
        assert not GroupDeal.objects.exists()

    def test_the_deal_page_shows_figures_groups_and_chart(self, manager: Client) -> None:
        deal = make_deal()
        response = manager.get(f"/console/groupbuy/deals/{deal.deal_no}")
        assert response.status_code == 200
        assert [label for label, _ in response.context["sections"]] == [
            "拼团中",
            "拼团成功",
            "拼团失败",
        ]
        assert len(response.context["chart"]["groups"]) == 30
        assert 'data-testid="groups-chart"' in response.content.decode()

    def test_an_unknown_deal_is_a_404_page(self, manager: Client) -> None:
        response = manager.get("/console/groupbuy/deals/GD404")
        assert response.status_code == 404
        assert "拼团活动不存在" in response.content.decode()

    def test_end_a_deal(self, manager: Client) -> None:
        deal = make_deal()
        manager.post(f"/console/groupbuy/deals/{deal.deal_no}/end")
        assert GroupDeal.objects.get(pk=deal.pk).status == DealStatus.ENDED


class TestPresales:
    def test_list_with_deposits_and_cancel(self, manager: Client) -> None:
        presale = make_presale()
        paid_deposit(presale, make_person())
        with clock.frozen(IN_DEPOSIT):
            rows = manager.get("/console/groupbuy/presales/").context["rows"]
            assert rows[0]["figures"].deposits_paid == 1
            assert rows[0]["cancellable"]
            refused = manager.post(
                f"/console/groupbuy/presales/{presale.presale_no}/cancel", {"reason": ""}
            )
            assert refused.status_code == 302
            assert Presale.objects.get(pk=presale.pk).status != PresaleStatus.CANCELLED
            manager.post(
                f"/console/groupbuy/presales/{presale.presale_no}/cancel", {"reason": "产地减产"}
            )
        assert Presale.objects.get(pk=presale.pk).status == PresaleStatus.CANCELLED


def presale_form(sku_id: int, **overrides: str) -> dict[str, str]:
    now = clock.to_shanghai(clock.now())

    def local(days: int) -> str:
        return (now + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")

    form = {
        "name": "阳澄湖大闸蟹预售",
        "sku_id": str(sku_id),
        "quantity": "20",
        "price": "99.00",
        "deposit": "10.00",
        "deposit_worth": "30.00",
        "per_person_limit": "2",
        "deposit_starts_at": local(0),
        "deposit_ends_at": local(7),
        "balance_starts_at": local(9),
        "balance_ends_at": local(12),
        "delivery_from": (now + dt.timedelta(days=13)).date().isoformat(),
        "delivery_to": (now + dt.timedelta(days=16)).date().isoformat(),
    }
    return form | overrides


class TestPresaleForm:
    def test_create_a_presale_from_the_form(self, manager: Client) -> None:
        # given a crab SKU with stock
        sku = make_sku(price_fen=12_800, stock=50, name="大闸蟹礼盒")

        # when the community manager fills in the form (money in yuan, Beijing times)
        response = manager.post(
            "/console/groupbuy/presales/", presale_form(sku.pk, deposit_refundable="on")
        )

        # then the presale exists with its money in fen and its units set aside
        presale = Presale.objects.get()
        assert response.status_code == 302
        assert response["Location"] == "/console/groupbuy/presales/"
        assert (presale.price_fen, presale.deposit_fen, presale.deposit_worth_fen) == (
            9900,
            1000,
            3000,
        )
        assert (presale.quantity, presale.per_person_limit) == (20, 2)
        assert presale.deposit_refundable
        assert presale.block_ref
        assert presale.created_by == "community"
        assert AuditLog.objects.filter(action="groupbuy.presale.create").exists()
        listed = manager.get("/console/groupbuy/presales/")
        assert notices(listed) == [
            f"已创建预售：阳澄湖大闸蟹预售（{presale.presale_no}），库存已预留"
        ]
        assert presale.presale_no in listed.content.decode()

    @pytest.mark.parametrize(
        ("field", "value", "shown"),
        [
            ("name", "", "请填写预售名称"),
            ("price", "九十九", "预售价请填写金额"),
            ("price", "1e9999999", "预售价请填写金额"),
            ("price", "199.00", "预售价不能高于商品原价"),
            ("deposit_worth", "5.00", "定金抵扣金额不能低于定金"),
            ("quantity", "0", "预售数量须在 1 到"),
            ("balance_starts_at", "明天", "请填写日期和时间"),
            ("delivery_from", "下周", "请填写日期"),
        ],
    )
    def test_bad_input_is_shown_under_its_field_and_nothing_is_created(
        self, manager: Client, field: str, value: str, shown: str
    ) -> None:
        sku = make_sku(price_fen=12_800, stock=50)
        response = manager.post(
            "/console/groupbuy/presales/", presale_form(sku.pk, **{field: value})
        )
        assert response.status_code == 422
        assert shown in response.context["errors"].get(field, "")
        assert shown in response.content.decode()
        assert response.context["form"][field] == value
        assert not Presale.objects.exists()

    def test_more_than_the_stock_is_refused_under_the_quantity(self, manager: Client) -> None:
        sku = make_sku(price_fen=12_800, stock=5)
        response = manager.post("/console/groupbuy/presales/", presale_form(sku.pk))
        assert response.status_code == 422
        assert "没有一个仓库有足够的可售库存" in response.context["errors"]["quantity"]
        assert not Presale.objects.exists()

    def test_customer_service_cannot_create_one(self) -> None:
        sku = make_sku(price_fen=12_800, stock=50)
        response = operator(Role.CUSTOMER_SERVICE, "cs").post(
            "/console/groupbuy/presales/", presale_form(sku.pk)
        )
        assert response.status_code == 403
        assert not Presale.objects.exists()


@pytest.fixture
def matured_commission(committed: Committed) -> Iterator[None]:
    """A leader's commission on an order paid on 2 Nov, matured and a day old."""
    with clock.frozen(START):
        rule(1, 1000)
        leader = make_leader()
        paid_order(committed, customer_of(leader), (make_sku(price_fen=10_000, stock=5), 1))
        clock.advance(dt.timedelta(days=8))
        accruals_mature()
        clock.advance(dt.timedelta(days=1))
        yield


class TestSettlementRuns:
    def test_create_then_the_creator_is_refused_then_another_approves_and_pays(
        self, manager: Client, matured_commission: None
    ) -> None:
        yesterday = clock.to_shanghai(clock.now()).date() - dt.timedelta(days=1)
        created = manager.post("/console/groupbuy/runs/new", {"period_end": str(yesterday)})
        run = SettlementRun.objects.get()
        assert created["Location"] == f"/console/groupbuy/runs/{run.run_no}"
        page = manager.get(created["Location"])
        assert page.context["statements"][0].amount_fen == 1000
        assert "/commission/statements/" in page.content.decode()

        mine = manager.post(f"/console/groupbuy/runs/{run.run_no}/approve", follow=True)
        assert SettlementRun.objects.get().status == SettlementStatus.DRAFT
        assert any("审核" in text for text in notices(mine))

        second = operator(Role.COMMUNITY_MANAGER, "fin-wang")
        second.post(f"/console/groupbuy/runs/{run.run_no}/approve")
        assert SettlementRun.objects.get().status == SettlementStatus.APPROVED
        statement = run.statements.get()
        no_ref = second.post(
            f"/console/groupbuy/statements/{statement.statement_no}/paid", {"payment_ref": ""}
        )
        assert no_ref.status_code == 302
        second.post(
            f"/console/groupbuy/statements/{statement.statement_no}/paid",
            {"payment_ref": "BANK-0001"},
        )
        assert run.statements.get().status == SettlementStatus.PAID

    def test_a_bad_or_future_period_end_is_a_chinese_message(
        self, manager: Client, matured_commission: None
    ) -> None:
        bad = manager.post("/console/groupbuy/runs/new", {"period_end": "上个月"}, follow=True)
        assert any("截止日期" in text for text in notices(bad))
        today = clock.to_shanghai(clock.now()).date()
        future = manager.post("/console/groupbuy/runs/new", {"period_end": str(today)}, follow=True)
        assert any("结算周期" in text for text in notices(future))
        assert not SettlementRun.objects.exists()

    def test_an_unknown_run_is_a_404_page(self, manager: Client) -> None:
        assert manager.get("/console/groupbuy/runs/SR404").status_code == 404
