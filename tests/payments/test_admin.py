from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.audit import Actor
from freshloop.identity.privacy import person_export
from freshloop.payments.models import Payment
from freshloop.payments.services import payment_create
from tests.factories import make_staff_user
from tests.payments.helpers import make_order

pytestmark = pytest.mark.django_db


class TestPaymentAdmin:
    def test_lists_are_read_only(self, client: Client) -> None:
        order = make_order()
        payment = payment_create(
            order_no=order.order_no, person_id=order.person_id, provider="sandbox", client_kind="h5"
        )
        client.force_login(make_staff_user("boss", superuser=True))
        for model in ("payment", "paymentnotificationlog", "refund"):
            listing = client.get(f"/admin/payments/{model}/")
            assert listing.status_code == 200, model
            assert client.get(f"/admin/payments/{model}/add/").status_code == 403
        page = client.get(f"/admin/payments/payment/{payment.pk}/change/")
        assert page.status_code == 200
        assert payment.payment_no in page.content.decode()
        assert client.post(f"/admin/payments/payment/{payment.pk}/delete/").status_code == 403
        assert Payment.objects.filter(pk=payment.pk).exists()


class TestPaymentsExportSection:
    def test_export_lists_the_persons_payments(self) -> None:
        order = make_order()
        payment = payment_create(
            order_no=order.order_no, person_id=order.person_id, provider="sandbox", client_kind="h5"
        )
        document = person_export(actor=Actor.system("tests"), one_id=order.person.one_id)
        [exported] = document["sections"]["payments"]
        assert exported["payment_no"] == payment.payment_no
        assert exported["amount_fen"] == order.total_fen
        assert exported["order_no"] == order.order_no
