"""`CheckoutRequest.special_prices`: a trusted unit price (a live flash-sale claim) charged and
explained on the order, capped at the granted quantity, never charged to a campaign budget, and
handed to the pricing engine as a special price (never as a campaign)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.errors import InvalidInput
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    SpecialPrice,
    checkout_preview,
    order_create,
)
from freshloop.promotions import pricing, selectors
from freshloop.promotions.models import Campaign
from freshloop.promotions.services import CampaignSpec, campaign_create
from tests.factories import ADDRESS, make_person, make_sku
from tests.orders.helpers import MARKETER

FLASH = SpecialPrice(unit_price_fen=990, label="直播秒杀价", ref="FC_1", max_quantity=2)


def _request(sku_id: int, quantity: int, **fields: object) -> CheckoutRequest:
    values: dict[str, object] = {
        "person": make_person(),
        "channel": "live",
        "source_ref": "L_1",
        "items": [CheckoutItem(sku_id=sku_id, quantity=quantity)],
        "address": dict(ADDRESS),
        "special_prices": {sku_id: FLASH},
    }
    values.update(fields)
    return CheckoutRequest(**values)  # type: ignore[arg-type]


def _cheap_flash_campaign(sku_id: int) -> Campaign:
    """A running, budgeted flash campaign pricing the SKU at ¥5 (below the special price)."""
    return campaign_create(
        actor=MARKETER,
        spec=CampaignSpec(
            code="cheap",
            name="限时特价",
            kind="flash_price",
            starts_at=clock.now() - dt.timedelta(hours=1),
            ends_at=clock.now() + dt.timedelta(hours=1),
            channels=["live", "shop"],
            prices={sku_id: 500},
            budget_fen=100_000,
        ),
    )


@pytest.mark.django_db
class TestOrderCreateWithSpecialPrices:
    def test_charged_and_explained_at_the_special_price(self) -> None:
        sku = make_sku(price_fen=2990, stock=10)
        order, _ = order_create(request=_request(sku.pk, 2))
        assert order.subtotal_fen == 5980
        rows = [row for row in order.price_explanation if row["code"] == "flash_price"]
        assert rows == [
            {"code": "flash_price", "label": "直播秒杀价", "amount_fen": -4000, "target": sku.pk}
        ]
        line = order.lines.get()
        assert line.total_fen == 1980

    def test_wins_over_a_running_flash_campaign_whose_budget_is_untouched(self) -> None:
        sku = make_sku(price_fen=2990, stock=10)
        campaign = _cheap_flash_campaign(sku.pk)
        order, _ = order_create(request=_request(sku.pk, 1))
        assert order.lines.get().total_fen == 990
        assert Campaign.objects.get(pk=campaign.pk).spent_fen == 0
        # while a normal buyer gets the campaign price, charged to its budget
        normal, _ = order_create(request=_request(sku.pk, 1, special_prices={}))
        assert normal.lines.get().total_fen == 500
        assert Campaign.objects.get(pk=campaign.pk).spent_fen == 2490

    def test_quantity_is_capped_at_the_granted_units(self) -> None:
        sku = make_sku(price_fen=2990, stock=10)
        with pytest.raises(InvalidInput, match="最多可买 2 件"):
            order_create(request=_request(sku.pk, 3))

    def test_special_price_for_a_sku_not_in_the_order_is_refused(self) -> None:
        sku, other = make_sku(price_fen=2990, stock=10), make_sku(stock=10)
        with pytest.raises(InvalidInput, match="特价商品不在订单中"):
            order_create(request=_request(sku.pk, 1, special_prices={other.pk: FLASH}))

    def test_preview_shows_the_special_price(self) -> None:
        sku = make_sku(price_fen=2990, stock=10)
        quote = checkout_preview(request=_request(sku.pk, 1))
        assert ("flash_price", "直播秒杀价", -2000) in {
            (row["code"], row["label"], row["amount_fen"]) for row in quote.explanation()
        }
        assert quote.campaign_charges == {}

    def test_reaches_the_engine_as_a_special_price_of_the_flash_sale_kind(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a running flash campaign on the SKU, and a spy on the pricing engine's input
        sku = make_sku(price_fen=2990, stock=10)
        _cheap_flash_campaign(sku.pk)
        calls: list[dict[str, Any]] = []

        def recording(**kwargs: Any) -> pricing.PriceQuote:
            calls.append(kwargs)
            return pricing.price_quote(**kwargs)

        monkeypatch.setattr(selectors, "price_quote", recording)
        # when the order is placed with the live flash price
        order_create(request=_request(sku.pk, 1))
        # then the engine was given the grant as it is (a flash sale by default) and no campaign
        # but the database's own
        (call,) = calls
        assert call["special_prices"] == {sku.pk: FLASH}
        assert FLASH.kind == pricing.SpecialPriceKind.FLASH_SALE
        assert [c.campaign_id for c in call["campaigns"]] == list(
            Campaign.objects.values_list("pk", flat=True)
        )
        assert all(c.campaign_id > 0 for c in call["campaigns"])
