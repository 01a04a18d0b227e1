"""The group leader's console `/leader/` and the invite landing `/g/<code>` (GB-1): every page
and form built on leader-scoped selectors, tried by a second leader, a customer, a pending
applicant and an anonymous visitor."""

from __future__ import annotations

import datetime as dt
import io
import re
from html import unescape as html_unescape
from urllib.parse import unquote

import pytest
import segno
from django.test import Client
from PIL import Image

from freshloop.content.services import content_item_archive, content_item_create
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.groupbuy.commission.models import LeaderOrder, PickupStatus
from freshloop.groupbuy.commission.services import (
    accruals_mature,
    pickup_confirm,
    settlement_run_create,
)
from freshloop.groupbuy.models import GroupLeader, LeaderCustomer
from freshloop.groupbuy.services import leader_suspend
from freshloop.groupbuy.training.models import LessonProgress, QuizAttempt
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.web import leader_poster
from freshloop.web.leader_poster import POSTER_HEIGHT, POSTER_WIDTH
from tests.factories import make_person
from tests.groupbuy.commission.helpers import (
    Committed,
    committed,
    customer_of,
    paid_order,
    rule,
    sku,
)
from tests.groupbuy.factories import OPERATOR, make_applicant, make_leader
from tests.groupbuy.training.helpers import make_course, right_answers

pytestmark = pytest.mark.django_db
__all__ = ["committed"]

MONDAY = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
CREATOR = Actor(type="user", id="8", label="ops-finance")
PAGES = (
    "/leader/",
    "/leader/orders",
    "/leader/customers",
    "/leader/dashboard",
    "/leader/statements",
    "/leader/materials",
    "/leader/training",
)


def browser_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def html(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def _order_of(committed: Committed, leader: GroupLeader, phone: str | None = None) -> LeaderOrder:
    buyer = customer_of(leader, make_person(phone=phone) if phone else None)
    order = paid_order(committed, buyer, (sku(10_000), 1))
    return LeaderOrder.objects.get(order=order)


class TestWhoMayOpenTheConsole:
    @pytest.mark.parametrize("path", PAGES)
    def test_anonymous_goes_to_login_and_back(self, path: str) -> None:
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/m/login?next=")

    @pytest.mark.parametrize("path", ["/leader/orders", "/g/ABCD2345"])
    def test_the_login_page_comes_back_to_the_console_and_the_invite(self, path: str) -> None:
        assert f'"{path}"' in Client().get(f"/m/login?next={path}").content.decode()

    @pytest.mark.parametrize("path", PAGES)
    def test_a_customer_gets_a_403_page_with_a_way_to_apply(self, path: str) -> None:
        response = browser_for(make_person()).get(path)
        body = response.content.decode()
        assert response.status_code == 403
        assert "您还不是营业中的团长" in body
        assert 'href="/leader/apply"' in body

    def test_a_pending_applicant_reads_that_the_application_waits(self) -> None:
        applicant = make_applicant()
        response = browser_for(applicant.person).get("/leader/")
        assert response.status_code == 403
        assert "正在审核中" in response.content.decode()

    def test_a_suspended_leader_is_refused_with_the_reason(self) -> None:
        leader = make_leader()
        leader_suspend(actor=OPERATOR, leader_no=leader.leader_no, reason="食品安全检查")
        response = browser_for(leader.person).get("/leader/orders")
        assert response.status_code == 403
        assert "食品安全检查" in response.content.decode()

    @pytest.mark.parametrize(
        "path",
        ["/leader/training/pickup-basics/quiz", "/leader/training/pickup-basics/lessons/1/done"],
    )
    def test_forms_refuse_anonymous_and_customers(self, path: str) -> None:
        make_course()
        assert Client().post(path).status_code == 302
        assert browser_for(make_person()).post(path, {"q1": "2"}).status_code == 403
        assert not LessonProgress.objects.exists()
        assert not QuizAttempt.objects.exists()


class TestLeaderHomeAndOrders:
    def test_today_numbers_and_the_orders_to_hand_out(self, committed: Committed) -> None:
        leader = make_leader()
        rule(1, 1_000)
        waiting = _order_of(committed, leader)
        handed = _order_of(committed, leader)
        pickup_confirm(leader=leader, pickup_code=handed.pickup_code)
        home = html(browser_for(leader.person), "/leader/")
        assert 'data-testid="stat-to-hand-out"><b>1</b>' in home
        assert 'data-testid="stat-picked-up"><b>1</b>' in home
        assert "¥200.00" in home  # today's GMV: two orders of ¥100
        assert "¥20.00" in home  # pending commission: 10 % of ¥200
        orders = html(browser_for(leader.person), "/leader/orders")
        assert f'data-testid="awaiting-order" data-order-no="{waiting.order_no}"' in orders
        assert f'data-testid="picked-up-order" data-order-no="{handed.order_no}"' in orders

    def test_another_leader_sees_none_of_them_and_cannot_hand_them_out(
        self, committed: Committed
    ) -> None:
        a, b = make_leader(), make_leader()
        order = _order_of(committed, a, phone="13912345678")
        as_b = browser_for(b.person)
        for path in PAGES:
            body = html(as_b, path)
            assert order.order_no not in body
            assert order.pickup_code not in body
            assert "5678" not in body
        refused = as_b.post(
            "/api/v1/groupbuy/leader/orders/pickup",
            {"pickup_code": order.pickup_code},
            content_type="application/json",
        )
        assert (refused.status_code, refused.json()["code"]) == (404, "pickup_code_unknown")
        order.refresh_from_db()
        assert order.pickup_status == PickupStatus.AWAITING


class TestCustomers:
    def test_own_customers_with_masked_phones_only(self) -> None:
        a, b = make_leader(), make_leader()
        customer_of(a, make_person(phone="13912345678"))
        mine = html(browser_for(a.person), "/leader/customers")
        theirs = html(browser_for(b.person), "/leader/customers")
        assert "共 1 人" in mine
        assert "139****5678" in mine
        assert "13912345678" not in mine
        assert "共 0 人" in theirs
        assert "5678" not in theirs

    def test_a_bad_page_number_is_the_first_page(self) -> None:
        leader = make_leader()
        assert "共 0 人" in html(browser_for(leader.person), "/leader/customers?page=x")


class TestDashboard:
    def test_thirty_days_of_sales_and_commission_for_the_chart(self, committed: Committed) -> None:
        a, b = make_leader(), make_leader()
        rule(1, 1_000)
        _order_of(committed, a)
        mine = html(browser_for(a.person), "/leader/dashboard")
        theirs = html(browser_for(b.person), "/leader/dashboard")
        assert "vendor/echarts/echarts.min.js" in mine
        assert 'id="leader-chart"' in mine
        assert "100.0" in mine
        assert 'data-testid="total-gmv"><b>¥100.00</b>' in mine
        assert 'data-testid="total-commission"><b>¥10.00</b>' in mine
        assert 'data-testid="total-gmv"><b>¥0.00</b>' in theirs
        assert 'data-testid="total-commission"><b>¥0.00</b>' in theirs


class TestStatements:
    def _statement_for_a(self, committed: Committed) -> tuple[GroupLeader, GroupLeader, str]:
        with clock.frozen(MONDAY):
            a, b = make_leader(), make_leader()
            rule(1, 1_000)
            paid_order(committed, customer_of(a), (sku(10_000), 1))
            clock.advance(dt.timedelta(days=9))
            accruals_mature()
            clock.advance(dt.timedelta(days=1))
            run = settlement_run_create(actor=CREATOR, period_end=dt.date(2026, 11, 11))
        return a, b, run.statements.get().statement_no

    def test_a_leader_lists_and_downloads_their_own_statement(self, committed: Committed) -> None:
        a, _, statement_no = self._statement_for_a(committed)
        as_a = browser_for(a.person)
        listed = html(as_a, "/leader/statements")
        assert f'href="/leader/statements/{statement_no}.csv"' in listed
        csv = as_a.get(f"/leader/statements/{statement_no}.csv")
        pdf = as_a.get(f"/leader/statements/{statement_no}.pdf")
        assert csv.status_code == 200
        assert csv["Content-Type"].startswith("text/csv")
        assert "10.00" in csv.content.decode("utf-8-sig")
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")

    def test_another_leader_neither_sees_nor_downloads_it(self, committed: Committed) -> None:
        _, b, statement_no = self._statement_for_a(committed)
        as_b = browser_for(b.person)
        assert statement_no not in html(as_b, "/leader/statements")
        for fmt in ("csv", "pdf"):
            refused = as_b.get(f"/leader/statements/{statement_no}.{fmt}")
            assert refused.status_code == 404
            assert "结算单" in refused.content.decode()

    def test_a_customer_cannot_download_either(self, committed: Committed) -> None:
        _, _, statement_no = self._statement_for_a(committed)
        assert (
            browser_for(make_person()).get(f"/leader/statements/{statement_no}.pdf").status_code
            == 403
        )
        assert Client().get(f"/leader/statements/{statement_no}.pdf").status_code == 302


class TestMaterials:
    def test_published_materials_and_a_poster_with_the_leaders_qr(self) -> None:
        leader = make_leader()
        content_item_create(kind="copy", title="今日团购文案", body="新鲜到货", actor=OPERATOR)
        old = content_item_create(kind="copy", title="过期活动文案", actor=OPERATOR)
        content_item_archive(item_id=old.pk, actor=OPERATOR)
        body = html(browser_for(leader.person), "/leader/materials")
        assert "今日团购文案" in body
        assert "过期活动文案" not in body
        assert f"http://testserver/g/{leader.invite_code}" in body
        assert 'data-testid="poster-qr"' in body
        assert "data:image/svg+xml" in body


class TestPosterDownload:
    def test_a_leader_downloads_a_png_whose_qr_is_their_own_invite_link(self) -> None:
        # given an active leader
        leader = make_leader()

        # when they download their poster
        response = browser_for(leader.person).get("/leader/materials/poster.png")

        # then it is a phone-sized PNG to save, and its QR code reads back as their invite link
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response["Content-Disposition"] == (
            f'attachment; filename="poster-{leader.invite_code}.png"'
        )
        poster = Image.open(io.BytesIO(response.content)).convert("L")
        assert poster.size == (POSTER_WIDTH, POSTER_HEIGHT)
        link = f"http://testserver/g/{leader.invite_code}"
        assert _qr_modules(poster, link) == _expected_modules(link)

    def test_a_long_pickup_point_name_is_set_smaller_not_cut_off(self) -> None:
        # given a leader whose pickup point has a very long name
        leader = make_leader(
            pickup_name="浦东新区张杨路一百弄阳光花园小区三号门东侧社区便利店自提点"
        )

        # when they download their poster
        content = browser_for(leader.person).get("/leader/materials/poster.png").content

        # then the text lines keep clear of the poster's left and right edges
        poster = Image.open(io.BytesIO(content)).convert("L")
        edges = [(x, y) for y in range(310, 640) for x in (*range(0, 16), *range(734, 750))]
        assert all(poster.getpixel(point) > 200 for point in edges)

    def test_two_leaders_get_different_codes_and_a_customer_gets_none(self) -> None:
        a, b = make_leader(), make_leader()
        poster_a = browser_for(a.person).get("/leader/materials/poster.png").content
        poster_b = browser_for(b.person).get("/leader/materials/poster.png").content
        assert poster_a != poster_b
        assert browser_for(make_person()).get("/leader/materials/poster.png").status_code == 403
        assert Client().get("/leader/materials/poster.png").status_code == 302

    def test_without_a_chinese_font_the_download_is_a_503_page(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(leader_poster, "CJK_FONTS", ())
        response = browser_for(make_leader().person).get("/leader/materials/poster.png")
        assert response.status_code == 503
        assert "缺少中文字体" in response.content.decode()

    def test_the_materials_page_links_the_download(self) -> None:
        body = html(browser_for(make_leader().person), "/leader/materials")
        assert 'href="/leader/materials/poster.png"' in body


def _expected_modules(link: str) -> list[list[bool]]:
    return [[bool(cell) for cell in row] for row in segno.make_qr(link, error="m").matrix]


def _qr_modules(poster: Image.Image, link: str) -> list[list[bool]]:
    """Each module's centre pixel on the poster, dark or light (the quiet zone left out)."""
    place = leader_poster.qr_placement(link)
    border = leader_poster.QR_BORDER_MODULES
    inner = place.modules - 2 * border
    half = place.module_px // 2
    return [
        [
            poster.getpixel(
                (
                    place.left + (column + border) * place.module_px + half,
                    place.top + (row + border) * place.module_px + half,
                )
            )
            < 128
            for column in range(inner)
        ]
        for row in range(inner)
    ]


class TestInviteLanding:
    def test_anonymous_sees_the_leader_and_a_login_link(self) -> None:
        leader = make_leader()
        body = html(Client(), f"/g/{leader.invite_code}")
        assert leader.display_name in body
        assert f"/m/login?next=/g/{leader.invite_code}" in body

    def test_a_signed_in_visitor_attaches_by_qr_with_a_post(self) -> None:
        leader, visitor = make_leader(), make_person()
        as_visitor = browser_for(visitor)
        html(as_visitor, f"/g/{leader.invite_code}")
        assert not LeaderCustomer.objects.filter(person=visitor).exists()  # GET changes nothing
        response = as_visitor.post(f"/g/{leader.invite_code}")
        assert response.status_code == 200
        assert "已绑定团长" in response.content.decode()
        attachment = LeaderCustomer.objects.get(person=visitor)
        assert (attachment.leader_id, attachment.source) == (leader.pk, "qr")

    def test_the_attribution_rules_answer_on_the_page(self) -> None:
        a, b, visitor = make_leader(), make_leader(), make_person()
        customer_of(a, visitor)
        locked = browser_for(visitor).post(f"/g/{b.invite_code}")
        assert locked.status_code == 409
        assert "前不能更换团长" in locked.content.decode()
        own = browser_for(a.person).post(f"/g/{a.invite_code}")
        assert own.status_code == 409

    @pytest.mark.parametrize("code", ["NOPE2345", "x" * 40, "ab-cd"])
    def test_unknown_and_closed_codes_are_404(self, code: str) -> None:
        assert Client().get(f"/g/{code}").status_code == 404

    def test_a_suspended_leaders_code_is_404(self) -> None:
        leader = make_leader()
        leader_suspend(actor=OPERATOR, leader_no=leader.leader_no, reason="暂停")
        assert browser_for(make_person()).post(f"/g/{leader.invite_code}").status_code == 404


class TestTrainingPages:
    def test_a_leader_learns_and_passes_and_another_sees_none_of_it(self) -> None:
        a, b, course = make_leader(), make_leader(), make_course()
        as_a, as_b = browser_for(a.person), browser_for(b.person)
        page = html(as_a, f"/leader/training/{course.code}")
        assert 'data-testid="quiz-locked"' in page
        for lesson in course.lessons.all():
            done = as_a.post(f"/leader/training/{course.code}/lessons/{lesson.pk}/done")
            assert done.status_code == 302
        answers = {f"q{n}": str(c) for n, c in enumerate(right_answers(course), start=1)}
        graded = as_a.post(f"/leader/training/{course.code}/quiz", answers)
        assert graded.status_code == 302
        page = html(as_a, f"/leader/training/{course.code}")
        assert "上次测验 100 分" in page
        assert 'data-testid="course-passed"' in page
        assert "已学 2/2 课时" in html(as_a, "/leader/training")
        theirs = html(as_b, f"/leader/training/{course.code}")
        assert 'data-testid="lesson-done"' not in theirs
        assert "上次测验" not in theirs
        assert "已学 0/2 课时" in html(as_b, "/leader/training")

    def test_the_page_never_carries_the_right_answers(self) -> None:
        leader, course = make_leader(), make_course()
        page = html(browser_for(leader.person), f"/leader/training/{course.code}")
        assert "correct" not in page

    def test_an_unanswered_quiz_is_refused_on_the_page(self) -> None:
        leader, course = make_leader(), make_course()
        client = browser_for(leader.person)
        for lesson in course.lessons.all():
            client.post(f"/leader/training/{course.code}/lessons/{lesson.pk}/done")
        refused = client.post(f"/leader/training/{course.code}/quiz", {"q1": "2", "q2": "x"})
        assert refused.status_code == 422
        assert "请回答第 2 题" in refused.content.decode()
        assert not QuizAttempt.objects.exists()

    def test_a_quiz_before_the_lessons_and_unknown_courses(self) -> None:
        leader, course = make_leader(), make_course()
        make_course("draft", published=False)
        client = browser_for(leader.person)
        early = client.post(f"/leader/training/{course.code}/quiz", {"q1": "2"})
        assert early.status_code == 409
        assert "请先学完全部课时" in early.content.decode()
        assert client.get("/leader/training/draft").status_code == 404
        assert client.post(f"/leader/training/{course.code}/lessons/999999/done").status_code == 404
        assert client.get(f"/leader/training/{course.code}/quiz").status_code == 405


class TestOrderPagePickup:
    def test_the_buyer_sees_the_pickup_point_code_and_qr(self, committed: Committed) -> None:
        leader = make_leader()
        order = _order_of(committed, leader)
        buyer = order.person
        page = html(browser_for(buyer), f"/m/orders/{order.order_no}")
        assert 'data-testid="order-pickup"' in page
        assert 'data-testid="pickup-code" ' in page
        assert order.pickup_code in page
        assert 'data-testid="pickup-qr"' in page
        assert leader.pickup_name in page
        # a full QR (version 1: 21 modules + 2 × 2 border, at 5 px), not a Micro QR that
        # phone scanners do not read
        qr = re.search(r'<img src="([^"]+)"[^>]*data-testid="pickup-qr"', page)
        assert qr is not None
        assert "width='125'" in unquote(html_unescape(qr.group(1)))
        pickup_confirm(leader=leader, pickup_code=order.pickup_code)
        page = html(browser_for(buyer), f"/m/orders/{order.order_no}")
        assert "已自提" in page
        assert order.pickup_code not in page

    def test_a_shop_order_without_a_leader_has_no_pickup_block(self, committed: Committed) -> None:
        buyer = make_person()
        order = paid_order(committed, buyer, (sku(10_000), 1), channel="shop")
        assert 'data-testid="order-pickup"' not in html(
            browser_for(buyer), f"/m/orders/{order.order_no}"
        )


class TestApplyPage:
    def test_a_customer_gets_the_form(self) -> None:
        body = html(browser_for(make_person()), "/leader/apply?r=ABCD2345")
        assert 'data-testid="apply-form"' in body
        assert 'value="ABCD2345"' in body

    def test_an_active_leader_goes_to_the_console(self) -> None:
        response = browser_for(make_leader().person).get("/leader/apply")
        assert (response.status_code, response["Location"]) == (302, "/leader/")

    def test_a_pending_applicant_reads_the_state_instead(self) -> None:
        response = browser_for(make_applicant().person).get("/leader/apply")
        assert response.status_code == 403
        assert "正在审核中" in response.content.decode()

    def test_anonymous_goes_to_login(self) -> None:
        assert Client().get("/leader/apply").status_code == 302
