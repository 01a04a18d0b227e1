"""`price_quote_for_cart(..., extra_campaigns=...)`: trusted synthetic campaigns (a live
flash-sale price for a buyer holding a claim) win their SKUs and charge no campaign budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from freshloop.core import clock
from freshloop.promotions.pricing import CampaignOffer, PriceQuote, QuoteLine
from freshloop.promotions.selectors import coupons_usable_for_cart, price_quote_for_cart
from tests.factories import make_person
from tests.promotions.helpers import (
    T0,
    flash,
    give,
    make_campaign,
    make_shelf,
    make_template,
    quote_line,
)


@pytest.fixture(autouse=True)
def _at_t0() -> Iterator[None]:
    """Every fact in these tests happens at T0 (coupons issued, campaigns running, quotes):
    a coupon issued at the real time would not be valid yet at a T0 in the past."""
    with clock.frozen(T0):
        yield


def _quote(
    lines: list[QuoteLine],
    extra: list[CampaignOffer],
    person_id: int | None = None,
    coupons: list[int] | None = None,
) -> PriceQuote:
    with clock.frozen(T0):
        return price_quote_for_cart(
            person_id=person_id,
            lines=lines,
            channel="live",
            live_session_id="L_1",
            coupon_ids=coupons or [],
            member=None,
            is_new_customer=False,
            points_redeem_fen=0,
            extra_campaigns=extra,
        )


@pytest.mark.django_db
class TestPriceQuoteForCartExtraCampaigns:
    def test_synthetic_price_wins_over_a_lower_running_flash_price_and_charges_no_budget(
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
        # when a synthetic live flash price of ¥25 for milk is passed
        synthetic = flash(-1, {shelf.milk_sku.pk: 2500}, name="直播秒杀价")
        result = _quote(
            [quote_line(shelf.milk_sku, 1), quote_line(shelf.apple_sku, 1)], [synthetic]
        )
        # then milk is priced by the synthetic campaign (labelled with its name), apples still
        # by the running campaign, and only the running campaign is charged
        milk, apple = result.lines
        assert milk.campaign_unit_price_fen == 2500
        assert apple.campaign_unit_price_fen == 4500
        labels = {(a.target, a.label) for a in result.adjustments}
        assert (shelf.milk_sku.pk, "直播秒杀价") in labels
        assert result.discount_by_campaign == {campaign.pk: 500}
        assert result.applied_campaign_ids == (campaign.pk,)

    def test_without_extra_campaigns_nothing_changes(self) -> None:
        shelf = make_shelf()
        campaign = make_campaign(kind="flash_price", tiers=[], prices={shelf.milk_sku.pk: 2000})
        result = _quote([quote_line(shelf.milk_sku, 2)], [])
        assert result.lines[0].campaign_unit_price_fen == 2000
        assert result.discount_by_campaign == {campaign.pk: 2000}

    def test_synthetic_campaign_counts_as_a_campaign_for_coupon_stacking(self) -> None:
        shelf = make_shelf()
        person = make_person()
        plain = give(make_template(kind="fixed", amount_off_fen=300, threshold_fen=0), person)
        synthetic = flash(-1, {shelf.milk_sku.pk: 2500}, name="直播秒杀价")
        result = _quote([quote_line(shelf.milk_sku, 1)], [synthetic], person.pk, [plain.pk])
        assert [(r.coupon_id, r.reason) for r in result.rejected_coupons] == [
            (plain.pk, "不可与活动优惠同享")
        ]
        with clock.frozen(T0):
            choices = coupons_usable_for_cart(
                person_id=person.pk,
                lines=[quote_line(shelf.milk_sku, 1)],
                channel="live",
                live_session_id="L_1",
                extra_campaigns=[synthetic],
            )
        assert [(c.usable, c.reason) for c in choices] == [(False, "不可与活动优惠同享")]

    @pytest.mark.parametrize(("campaign_id", "budget"), [(5, None), (-1, 100)])
    def test_synthetic_campaigns_need_a_negative_id_and_no_budget(
        self, campaign_id: int, budget: int | None
    ) -> None:
        shelf = make_shelf()
        bad = flash(campaign_id, {shelf.milk_sku.pk: 2500}, budget_left_fen=budget)
        with pytest.raises(ValueError, match="negative id and no budget"):
            _quote([quote_line(shelf.milk_sku, 1)], [bad])
