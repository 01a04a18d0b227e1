"""`price_quote_for_cart(..., special_prices=...)` and `coupons_usable_for_cart`: a trusted
special price (a live flash-sale price for a buyer holding a claim) wins its SKU, is explained
on its own line and charges no campaign budget; it reaches the engine as itself, never as a
campaign."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.promotions import selectors
from freshloop.promotions.pricing import PriceQuote, QuoteLine, SpecialPrice, price_quote
from freshloop.promotions.selectors import coupons_usable_for_cart, price_quote_for_cart
from tests.factories import make_person
from tests.promotions.helpers import (
    T0,
    give,
    make_campaign,
    make_shelf,
    make_template,
    quote_line,
)

LIVE_PRICE = SpecialPrice(unit_price_fen=2500, label="直播秒杀价", ref="flash:7")


@pytest.fixture(autouse=True)
def _at_t0() -> Iterator[None]:
    """Every fact in these tests happens at T0 (coupons issued, campaigns running, quotes):
    a coupon issued at the real time would not be valid yet at a T0 in the past."""
    with clock.frozen(T0):
        yield


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every call the selectors make to the pricing engine, with its keyword arguments."""
    calls: list[dict[str, Any]] = []

    def recording(**kwargs: Any) -> PriceQuote:
        calls.append(kwargs)
        return price_quote(**kwargs)

    monkeypatch.setattr(selectors, "price_quote", recording)
    return calls


def _quote(
    lines: list[QuoteLine],
    special: Mapping[int, SpecialPrice],
    person_id: int | None = None,
    coupons: list[int] | None = None,
) -> PriceQuote:
    return price_quote_for_cart(
        person_id=person_id,
        lines=lines,
        channel="live",
        live_session_id="L_1",
        coupon_ids=coupons or [],
        member=None,
        is_new_customer=False,
        points_redeem_fen=0,
        special_prices=special,
    )


@pytest.mark.django_db
class TestPriceQuoteForCartSpecialPrices:
    def test_special_price_wins_over_a_lower_running_flash_price_and_charges_no_budget(
        self,
    ) -> None:
        # given a budgeted flash campaign pricing milk at ¥20 and apples at ¥45
        shelf = make_shelf()
        campaign = make_campaign(
            kind="flash_price",
            tiers=[],
            prices={shelf.milk_sku.pk: 2000, shelf.apple_sku.pk: 4500},
            budget_fen=100_000,
        )
        # when the buyer holds a live flash price of ¥25 for milk
        result = _quote(
            [quote_line(shelf.milk_sku, 1), quote_line(shelf.apple_sku, 1)],
            {shelf.milk_sku.pk: LIVE_PRICE},
        )
        # then milk is priced by the special price on its own line, apples still by the
        # running campaign, and only the running campaign is charged
        milk, apple = result.lines
        assert milk.campaign_unit_price_fen == 2500
        assert apple.campaign_unit_price_fen == 4500
        assert [(a.label, a.amount_fen, a.target, a.source_id) for a in result.adjustments] == [
            ("直播秒杀价", -500, shelf.milk_sku.pk, None),
            ("限时特价 (双十二满减)", -500, shelf.apple_sku.pk, campaign.pk),
        ]
        assert result.discount_by_campaign == {campaign.pk: 500}
        assert result.applied_campaign_ids == (campaign.pk,)

    def test_without_special_prices_nothing_changes(self) -> None:
        shelf = make_shelf()
        campaign = make_campaign(kind="flash_price", tiers=[], prices={shelf.milk_sku.pk: 2000})
        result = _quote([quote_line(shelf.milk_sku, 2)], {})
        assert result.lines[0].campaign_unit_price_fen == 2000
        assert result.discount_by_campaign == {campaign.pk: 2000}

    def test_special_price_counts_as_a_campaign_for_coupon_stacking(self) -> None:
        shelf = make_shelf()
        person = make_person()
        plain = give(make_template(kind="fixed", amount_off_fen=300, threshold_fen=0), person)
        special = {shelf.milk_sku.pk: LIVE_PRICE}
        result = _quote([quote_line(shelf.milk_sku, 1)], special, person.pk, [plain.pk])
        assert [(r.coupon_id, r.reason) for r in result.rejected_coupons] == [
            (plain.pk, "不可与活动优惠同享")
        ]
        choices = coupons_usable_for_cart(
            person_id=person.pk,
            lines=[quote_line(shelf.milk_sku, 1)],
            channel="live",
            live_session_id="L_1",
            special_prices=special,
        )
        assert [(c.usable, c.reason) for c in choices] == [(False, "不可与活动优惠同享")]

    def test_the_engine_gets_the_special_price_itself_and_only_real_campaigns(
        self, engine_calls: list[dict[str, Any]]
    ) -> None:
        # given a running campaign and a buyer holding a special price (with a coupon, so the
        # picker prices the cart too)
        shelf = make_shelf()
        person = make_person()
        campaign = make_campaign(kind="flash_price", tiers=[], prices={shelf.milk_sku.pk: 2000})
        give(make_template(kind="fixed", amount_off_fen=300, threshold_fen=0), person)
        special = {shelf.milk_sku.pk: LIVE_PRICE}
        lines = [quote_line(shelf.milk_sku, 1)]
        # when the cart is quoted and its coupons listed
        _quote(lines, special, person.pk)
        coupons_usable_for_cart(
            person_id=person.pk,
            lines=lines,
            channel="live",
            live_session_id="L_1",
            special_prices=special,
        )
        # then every engine call had the special price as its own input and only the
        # database's campaigns (positive ids) as campaigns
        assert len(engine_calls) == 2
        for call in engine_calls:
            assert call["special_prices"] == special
            assert [c.campaign_id for c in call["campaigns"]] == [campaign.pk]
            assert all(c.campaign_id > 0 for c in call["campaigns"])
