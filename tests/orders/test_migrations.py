"""Data migrations of the orders module."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from freshloop.orders.models import OrderEvent, OrderStatus
from tests.factories import make_person, make_sku
from tests.orders.helpers import buy, pay

pytestmark = pytest.mark.django_db

provider_names = importlib.import_module("freshloop.orders.migrations.0003_payment_provider_names")


class TestNotesInChinese:
    def test_timeline_notes_written_with_the_provider_id_read_its_chinese_name(self) -> None:
        # given a paid order whose timeline was written before provider names were Chinese
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        paid = OrderEvent.objects.get(order=order, to_status=OrderStatus.PAID)
        OrderEvent.objects.filter(pk=paid.pk).update(
            note="支付成功（wechatpay）", actor="wechatpay"
        )
        other = OrderEvent.objects.exclude(pk=paid.pk).filter(order=order).first()
        assert other is not None
        other_note = other.note

        # when the migration runs
        provider_names.notes_in_chinese(apps, None)

        # then the note names WeChat Pay in Chinese, and other notes are left as they were
        rewritten = OrderEvent.objects.get(pk=paid.pk)
        assert (rewritten.note, rewritten.actor) == ("支付成功（微信支付）", "微信支付")
        assert OrderEvent.objects.get(pk=other.pk).note == other_note

    def test_backwards_restores_the_ids(self) -> None:
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        provider_names.notes_by_name(apps, None)
        paid = OrderEvent.objects.get(order=order, to_status=OrderStatus.PAID)
        assert (paid.note, paid.actor) == ("支付成功（sandbox）", "sandbox")
