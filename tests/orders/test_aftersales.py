"""After-sales cases (售后工单): a buyer opens one on a paid order with units and photos; customer
service approves it (a refund request follows) or rejects it with a note."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.identity.models import Person
from freshloop.identity.privacy import person_erase, person_export
from freshloop.identity.services import IdentifierInput, consumer_token_issue, identify
from freshloop.orders.errors import AfterSalesAlreadyOpen, OrderNotFound, OrderStateInvalid
from freshloop.orders.models import AfterSalesCase, Order, RefundRequest, RefundStatus
from freshloop.orders.selectors import aftersales_case_list_open, aftersales_cases_for_order
from freshloop.orders.services import (
    aftersales_case_approve,
    aftersales_case_open,
    aftersales_case_reject,
)
from tests.factories import make_person, make_sku, make_staff_user
from tests.orders.helpers import buy, pay

pytestmark = pytest.mark.django_db

SERVICE = Actor(type="user", id="7", label="客服小林")


def jpeg(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def paid_order(person: Person, quantity: int = 2) -> Order:
    milk = make_sku(price_fen=3000, stock=10)
    return pay(buy(person, (milk, quantity)))


def open_case(person: Person, order: Order, quantity: int = 1, **fields: Any) -> AfterSalesCase:
    spec: dict[str, Any] = {
        "kind": "refund_only",
        "reason": "damaged",
        "description": "盒子压扁，漏了一地",
        "lines": [{"line_id": order.lines.get().pk, "quantity": quantity}],
        "photos": [],
    }
    spec.update(fields)
    return aftersales_case_open(person=person, order_no=order.order_no, **spec)


class TestOpen:
    def test_a_buyer_opens_a_case_for_one_unit_of_a_paid_order(self) -> None:
        # given a paid order of two bottles
        buyer = make_person()
        order = paid_order(buyer)
        # when the buyer reports one damaged bottle
        case = open_case(buyer, order)
        # then the case waits for customer service, with the unit and the order's timeline note
        assert case.status == "submitted"
        assert case.get_status_display() == "待处理"
        assert case.lines == [{"line_id": order.lines.get().pk, "quantity": 1}]
        assert order.timeline.last().note == "申请售后（仅退款）：商品破损"
        assert aftersales_case_list_open() == [case]

    @pytest.mark.parametrize("quantity", [3, 0])
    def test_units_beyond_what_was_bought_are_refused(self, quantity: int) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        with pytest.raises(DomainError) as caught:
            open_case(buyer, order, quantity=quantity)
        assert caught.value.code == "aftersales_invalid"
        assert caught.value.detail[0]["field"] == "lines.0"
        assert not AfterSalesCase.objects.exists()

    def test_a_line_of_another_order_is_refused(self) -> None:
        buyer = make_person()
        order, other = paid_order(buyer), paid_order(buyer)
        with pytest.raises(DomainError) as caught:
            open_case(buyer, order, lines=[{"line_id": other.lines.get().pk, "quantity": 1}])
        assert caught.value.detail[0]["message"] == "售后商品不属于这个订单"

    def test_another_persons_order_is_not_found(self) -> None:
        order = paid_order(make_person())
        with pytest.raises(OrderNotFound):
            open_case(make_person(), order)
        assert not AfterSalesCase.objects.exists()

    def test_an_unpaid_order_is_refused(self) -> None:
        buyer = make_person()
        order = buy(buyer, (make_sku(stock=5), 1))
        with pytest.raises(OrderStateInvalid) as caught:
            open_case(buyer, order)
        assert caught.value.text == "订单支付后才能申请售后"

    def test_one_open_case_per_order(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        open_case(buyer, order)
        with pytest.raises(AfterSalesAlreadyOpen):
            open_case(buyer, order)
        assert AfterSalesCase.objects.count() == 1

    def test_other_needs_a_description_and_kind_must_be_known(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        with pytest.raises(DomainError) as caught:
            open_case(buyer, order, kind="exchange", reason="other", description=" ")
        fields = [problem["field"] for problem in caught.value.detail]
        assert fields == ["kind", "description"]


class TestPhotos:
    def test_a_real_image_is_stored_in_sizes(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        case = open_case(buyer, order, photos=[jpeg(2000, 1500)])
        photo = case.photos.get()
        assert photo.width == 2000
        assert photo.url.startswith("/media/aftersales/")
        assert default_storage.exists(photo.webp_400.name)

    def test_a_renamed_text_file_is_refused_and_nothing_is_written(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        fake = SimpleUploadedFile("photo.jpg", b"not a picture at all", "image/jpeg")
        with pytest.raises(DomainError) as caught:
            open_case(buyer, order, photos=[jpeg(), fake])
        assert caught.value.code == "image_invalid"
        assert not AfterSalesCase.objects.exists()

    def test_seven_photos_are_too_many(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        with pytest.raises(DomainError) as caught:
            open_case(buyer, order, photos=[jpeg(40, 40)] * 7)
        assert caught.value.detail[0]["field"] == "photos"

    def test_a_refused_case_removes_the_photos_it_wrote(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        open_case(buyer, order)
        before = AfterSalesCase.objects.count()
        with pytest.raises(AfterSalesAlreadyOpen):
            open_case(buyer, order, photos=[jpeg(40, 40)])
        assert AfterSalesCase.objects.count() == before
        folder = f"aftersales/{order.order_no[-12:]}"
        left = [
            name
            for sub in (
                default_storage.listdir(folder)[0] if default_storage.exists(folder) else []
            )
            for name in default_storage.listdir(f"{folder}/{sub}")[1]
        ]
        assert left == []


class TestDecide:
    def test_approving_a_refund_only_case_approves_its_refund_in_the_same_step(self) -> None:
        # given a 仅退款 case for one damaged bottle of a paid order of two
        buyer = make_person()
        order = paid_order(buyer)
        case = open_case(buyer, order, kind="refund_only")
        # when customer service agrees
        case = aftersales_case_approve(case_id=case.pk, actor=SERVICE, note="照片属实")
        # then the refund for one bottle (¥30) is linked to the case and already approved
        refund = RefundRequest.objects.get()
        assert case.refund == refund
        assert refund.lines == case.lines
        assert refund.amount_fen == 3000
        assert refund.status != RefundStatus.REQUESTED
        assert refund.decided_by == "客服小林"
        assert case.get_status_display() == "已同意"
        assert case.decided_by == "客服小林"
        assert case.decided_at is not None
        assert aftersales_case_list_open() == []
        assert AuditLog.objects.filter(action="orders.refund_approve").count() == 1

    def test_approving_a_return_case_leaves_the_refund_waiting_for_the_goods(self) -> None:
        # given a 退货退款 case
        buyer = make_person()
        order = paid_order(buyer)
        case = open_case(buyer, order, kind="return_refund")
        # when customer service agrees
        case = aftersales_case_approve(case_id=case.pk, actor=SERVICE)
        # then the refund request waits in the refund queue until the goods are back
        refund = RefundRequest.objects.get()
        assert case.refund == refund
        assert refund.status == RefundStatus.REQUESTED
        assert Order.objects.get(pk=order.pk).status == "refund_requested"
        assert not AuditLog.objects.filter(action="orders.refund_approve").exists()

    def test_reject_needs_a_note_and_shows_it(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        case = open_case(buyer, order)
        with pytest.raises(DomainError):
            aftersales_case_reject(case_id=case.pk, actor=SERVICE, note=" ")
        case = aftersales_case_reject(case_id=case.pk, actor=SERVICE, note="照片看不出破损")
        assert case.get_status_display() == "已拒绝"
        assert case.decision_note == "照片看不出破损"
        assert not RefundRequest.objects.exists()
        # and a new case may be opened afterwards
        assert open_case(buyer, order).status == "submitted"

    def test_a_decided_case_is_not_decided_twice(self) -> None:
        buyer = make_person()
        case = open_case(buyer, paid_order(buyer))
        aftersales_case_reject(case_id=case.pk, actor=SERVICE, note="不符合")
        with pytest.raises(OrderStateInvalid):
            aftersales_case_approve(case_id=case.pk, actor=SERVICE)
        assert not RefundRequest.objects.exists()

    def test_the_queue_is_oldest_first(self) -> None:
        first, second = make_person(), make_person()
        older = open_case(first, paid_order(first))
        newer = open_case(second, paid_order(second))
        assert aftersales_case_list_open() == [older, newer]
        assert aftersales_cases_for_order(person=first, order_no=older.order.order_no) == [older]


# --- the API ----------------------------------------------------------------------------------


def client_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def submit(client: Client, order: Order, **fields: Any) -> Any:
    data: dict[str, Any] = {
        "kind": "return_refund",
        "reason": "damaged",
        "description": "破了",
        "lines": json.dumps([{"line_id": order.lines.get().pk, "quantity": 1}]),
    }
    data.update(fields)
    return client.post(f"/api/v1/shop/orders/{order.order_no}/after-sales", data)


class TestApi:
    def test_multipart_with_a_photo_then_the_list(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        client = client_for(buyer)
        photo = SimpleUploadedFile("p.jpg", jpeg(), "image/jpeg")
        response = submit(client, order, photos=[photo])
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status_label"] == "待处理"
        assert body["kind_label"] == "退货退款"
        assert body["lines"][0]["quantity"] == 1
        assert body["lines"][0]["product_name"]
        assert len(body["photos"]) == 1
        listed = client.get(f"/api/v1/shop/orders/{order.order_no}/after-sales").json()
        assert [case["case_no"] for case in listed] == [body["case_no"]]

    def test_another_persons_order_is_404_both_ways(self) -> None:
        order = paid_order(make_person())
        stranger = client_for(make_person())
        assert submit(stranger, order).status_code == 404
        url = f"/api/v1/shop/orders/{order.order_no}/after-sales"
        assert stranger.get(url).status_code == 404

    def test_a_text_file_named_jpg_is_422_with_a_chinese_message(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        fake = SimpleUploadedFile("p.jpg", b"hello", "image/jpeg")
        response = submit(client_for(buyer), order, photos=[fake])
        assert response.status_code == 422
        assert response.json()["code"] == "image_invalid"
        assert "图片" in response.json()["message"]

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"lines": "not json"}, "lines"),
            ({"lines": "[]"}, "lines"),
            ({"reason": "bored"}, "reason"),
        ],
    )
    def test_bad_fields_are_422_and_named(self, fields: dict[str, str], field: str) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        response = submit(client_for(buyer), order, **fields)
        assert response.status_code == 422
        assert field in json.dumps(response.json()["detail"])

    def test_a_second_open_case_is_409(self) -> None:
        buyer = make_person()
        order = paid_order(buyer)
        client = client_for(buyer)
        assert submit(client, order).status_code == 201
        response = submit(client, order)
        assert response.status_code == 409
        assert response.json()["code"] == "aftersales_already_open"


# --- the back office --------------------------------------------------------------------------


def staff_client(*roles: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(f"as-{'-'.join(roles)}", *roles))
    return client


class TestAdmin:
    def test_the_list_and_a_case_with_its_photo_render(self) -> None:
        buyer = make_person()
        case = open_case(buyer, paid_order(buyer), photos=[jpeg(40, 40)])
        client = staff_client(Role.CUSTOMER_SERVICE)
        listing = client.get("/admin/orders/aftersalescase/")
        assert listing.status_code == 200
        assert case.case_no in listing.content.decode()
        page = client.get(f"/admin/orders/aftersalescase/{case.pk}/change/").content.decode()
        assert "商品破损" in page
        assert case.photos.get().thumb_url in page
        assert "× 1" in page

    def test_approve_through_the_service_creates_the_refund_request(self) -> None:
        buyer = make_person()
        case = open_case(buyer, paid_order(buyer))
        response = staff_client(Role.CUSTOMER_SERVICE).post(
            "/admin/orders/aftersalescase/",
            {"action": "approve", "_selected_action": [case.pk], "note": "属实"},
        )
        assert response.status_code == 302
        case.refresh_from_db()
        assert case.status == "approved"
        assert case.decision_note == "属实"
        assert case.refund is not None
        assert AuditLog.objects.filter(action="orders.aftersales_approve").count() == 1

    def test_reject_without_a_note_is_refused_with_a_message(self) -> None:
        buyer = make_person()
        case = open_case(buyer, paid_order(buyer))
        client = staff_client(Role.CUSTOMER_SERVICE)
        response = client.post(
            "/admin/orders/aftersalescase/",
            {"action": "reject", "_selected_action": [case.pk], "note": ""},
            follow=True,
        )
        assert "请填写拒绝原因" in response.content.decode()
        case.refresh_from_db()
        assert case.status == "submitted"
        client.post(
            "/admin/orders/aftersalescase/",
            {"action": "reject", "_selected_action": [case.pk], "note": "超过售后时限"},
        )
        case.refresh_from_db()
        assert case.status == "rejected"
        assert case.decision_note == "超过售后时限"

    def test_a_marketer_cannot_decide(self) -> None:
        buyer = make_person()
        case = open_case(buyer, paid_order(buyer))
        client = staff_client(Role.MARKETER)
        client.post(
            "/admin/orders/aftersalescase/",
            {"action": "approve", "_selected_action": [case.pk], "note": ""},
        )
        case.refresh_from_db()
        assert case.status == "submitted"


class TestPrivacy:
    def test_export_lists_the_case_and_erasure_removes_description_and_photos(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a buyer's case with a description and a photo
        buyer = identify(
            identifiers=[IdentifierInput(type="phone", value="13800138077", verified=True)],
            source="shop",
        ).person
        case = open_case(buyer, paid_order(buyer), photos=[jpeg(40, 40)])
        photo_name = case.photos.get().original.name
        # when the buyer exports their data
        document = person_export(actor=SERVICE, one_id=buyer.one_id)
        # then the case is listed
        listed = document["sections"]["aftersales"][0]
        assert listed["case_no"] == case.case_no
        assert listed["reason"] == "商品破损"
        # and when they are erased, the description and the photo files go; the case stays
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=SERVICE, one_id=buyer.one_id, reason="用户申请注销")
        case.refresh_from_db()
        assert case.description == ""
        assert not case.photos.exists()
        assert not default_storage.exists(photo_name)

    def test_a_case_moves_with_a_merge(self, django_capture_on_commit_callbacks: Any) -> None:
        # given a guest known by a device, and a phone customer with a case on a paid order
        identify(identifiers=[IdentifierInput(type="device_id", value="dev-as")], source="live")
        phone_person = identify(
            identifiers=[IdentifierInput(type="phone", value="13800138078", verified=True)],
            source="shop",
        ).person
        case = open_case(phone_person, paid_order(phone_person))
        # when the phone is used on the guest's device and the two OneIDs merge
        with django_capture_on_commit_callbacks(execute=True):
            survivor = identify(
                identifiers=[
                    IdentifierInput(type="phone", value="13800138078", verified=True),
                    IdentifierInput(type="device_id", value="dev-as"),
                ],
                source="live",
            ).person
        # then the case belongs to the surviving OneID, like its order
        case.refresh_from_db()
        assert survivor.pk != phone_person.pk
        assert case.person_id == survivor.pk
        assert case.order.person_id == survivor.pk
