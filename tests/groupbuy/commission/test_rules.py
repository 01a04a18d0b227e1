"""Commission rules: operators create and end them (checked, audited); the most specific
rule valid at payment wins."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.catalog.services import category_upsert
from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.groupbuy.commission.errors import CommissionInputInvalid, CommissionRuleNotFound
from freshloop.groupbuy.commission.models import CommissionRule
from freshloop.groupbuy.commission.rules import (
    category_chain,
    commission_max_depth,
    rule_for_line,
    rules_valid_at,
)
from freshloop.groupbuy.commission.services import commission_rule_end
from freshloop.groupbuy.models import LeaderLevel
from freshloop.groupbuy.services import leader_levels_ensure_defaults
from tests.groupbuy.commission.helpers import rule, sku
from tests.groupbuy.factories import OPERATOR

pytestmark = pytest.mark.django_db


def _resolve(item_sku: object, *, depth: int = 1, level_code: str = "trainee") -> int | None:
    rules = rules_valid_at(clock.now())
    product = item_sku.product  # type: ignore[attr-defined]
    parents = {c.pk: c.parent_id for c in type(product.category).objects.all()}
    found = rule_for_line(
        rules,
        depth=depth,
        level_id=LeaderLevel.objects.get(code=level_code).pk,
        product_id=product.pk,
        categories=category_chain(product.category_id, parents),
    )
    return found.rate_bp if found else None


class TestCommissionRuleCreate:
    def test_a_rule_is_written_and_audited(self) -> None:
        leader_levels_ensure_defaults()
        created = rule(1, 500, level_code="gold", cap_fen=2_000, note="金牌默认")
        assert (created.depth, created.rate_bp, created.level.code, created.cap_fen) == (
            1,
            500,
            "gold",
            2_000,
        )
        assert AuditLog.objects.filter(action="groupbuy.commission_rule.save").count() == 1

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"depth": 3, "rate_bp": 100}, "depth"),
            ({"depth": 1, "rate_bp": 5_001}, "rate_bp"),
            ({"depth": 1, "rate_bp": 100, "level_code": "nope"}, "level_code"),
            ({"depth": 1, "rate_bp": 100, "product_code": "nope"}, "product_code"),
        ],
    )
    def test_bad_input_is_refused_naming_the_field(self, fields: dict, field: str) -> None:
        depth, rate = fields.pop("depth"), fields.pop("rate_bp")
        with pytest.raises(CommissionInputInvalid) as refused:
            rule(depth, rate, **fields)
        assert refused.value.detail[0]["field"] == field
        assert not CommissionRule.objects.exists()

    def test_product_and_category_together_are_refused(self) -> None:
        item = sku()
        with pytest.raises(CommissionInputInvalid):
            rule(
                1,
                100,
                product_code=item.product.code,
                category_code=item.product.category.code,
            )

    def test_an_end_before_the_start_is_refused(self) -> None:
        now = clock.now()
        with pytest.raises(CommissionInputInvalid):
            rule(1, 100, valid_from=now, valid_until=now - dt.timedelta(hours=1))


class TestCommissionMaxDepth:
    @pytest.mark.parametrize(("configured", "used"), [(1, 1), (2, 2), (3, 3), (9, 3), (0, 1)])
    def test_the_setting_is_clamped_to_the_hard_cap(
        self, settings: object, configured: int, used: int
    ) -> None:
        settings.GROUPBUY_COMMISSION_MAX_DEPTH = configured  # type: ignore[attr-defined]
        assert commission_max_depth() == used


class TestCommissionRuleEnd:
    def test_an_ended_rule_no_longer_applies(self) -> None:
        leader_levels_ensure_defaults()
        item = sku()
        created = rule(1, 500)
        assert _resolve(item) == 500
        commission_rule_end(actor=OPERATOR, rule_id=created.pk)
        assert _resolve(item) is None
        again = commission_rule_end(actor=OPERATOR, rule_id=created.pk)
        assert again.valid_until == CommissionRule.objects.get().valid_until
        assert AuditLog.objects.filter(action="groupbuy.commission_rule.end").count() == 1

    def test_a_future_rule_ended_never_applies(self) -> None:
        leader_levels_ensure_defaults()
        item = sku()
        future = rule(1, 500, valid_from=clock.now() + dt.timedelta(days=1))
        commission_rule_end(actor=OPERATOR, rule_id=future.pk)
        with clock.frozen(clock.now() + dt.timedelta(days=2)):
            assert _resolve(item) is None

    def test_an_unknown_rule_is_a_404(self) -> None:
        with pytest.raises(CommissionRuleNotFound):
            commission_rule_end(actor=OPERATOR, rule_id=999_999)


class TestRuleForLine:
    def test_product_beats_category_beats_parent_beats_default(self) -> None:
        leader_levels_ensure_defaults()
        item = sku(category_code="milk")
        other = sku(category_code="milk")
        parent = category_upsert(code="fresh", name="生鲜")
        category_upsert(code="milk", name="牛奶", parent=parent)
        rule(1, 100)
        assert _resolve(item) == 100
        rule(1, 200, category_code="fresh")
        assert _resolve(item) == 200
        rule(1, 300, category_code="milk")
        assert _resolve(item) == 300
        rule(1, 400, product_code=item.product.code)
        assert (_resolve(item), _resolve(other)) == (400, 300)

    def test_a_rule_for_the_level_beats_one_for_every_level(self) -> None:
        leader_levels_ensure_defaults()
        item = sku()
        rule(1, 100)
        rule(1, 250, level_code="gold")
        assert (_resolve(item, level_code="trainee"), _resolve(item, level_code="gold")) == (
            100,
            250,
        )

    def test_the_latest_start_wins_within_a_scope_and_depths_are_separate(self) -> None:
        leader_levels_ensure_defaults()
        item = sku()
        rule(1, 100, valid_from=clock.now() - dt.timedelta(days=5))
        rule(1, 150, valid_from=clock.now() - dt.timedelta(days=2))
        rule(2, 50)
        assert (_resolve(item, depth=1), _resolve(item, depth=2)) == (150, 50)

    def test_rules_out_of_their_period_do_not_apply(self) -> None:
        leader_levels_ensure_defaults()
        item = sku()
        now = clock.now()
        rule(1, 100, valid_from=now - dt.timedelta(days=10), valid_until=now - dt.timedelta(days=1))
        rule(1, 200, valid_from=now + dt.timedelta(days=1))
        assert _resolve(item) is None
