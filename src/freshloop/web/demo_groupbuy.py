"""Demo data of community group buying (#18): an approved leader with a pickup point, the
commission rules (8 % to the leader, 2 % to their recruiter), a running three-tier group deal
on a groupbuy product in stock, one group the leader opened to share, a presale taking
deposits (¥10 worth ¥30) shown as a card in the demo's live session, and a published training
course for new leaders. Idempotent."""

from __future__ import annotations

import datetime as dt

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.groupbuy.commission.models import CommissionRule
from freshloop.groupbuy.commission.services import commission_rule_create
from freshloop.groupbuy.deals.models import DealGroup, GroupDeal
from freshloop.groupbuy.deals.services import deal_create, group_open_for_leader
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.presale.models import Presale
from freshloop.groupbuy.presale.services import (
    PresaleTerms,
    presale_create,
    presale_live_launch,
    presales_advance,
)
from freshloop.groupbuy.services import (
    id_number_check_character,
    leader_apply,
    leader_approve,
    leader_levels_ensure_defaults,
)
from freshloop.groupbuy.training.models import TrainingCourse
from freshloop.groupbuy.training.services import LessonInput, QuestionInput, course_create
from freshloop.identity.models import Identifier, IdentifierType, Person
from freshloop.inventory.selectors import stock_available_by_sku
from freshloop.live.models import LiveSession
from freshloop.web.demo_live import NOW_TITLE

DEAL_TITLE = "社区拼团：人越多越便宜"
PRESALE_NAME = "预售尝鲜：定金 10 元抵 30 元"
PRESALE_DEPOSIT_FEN = 1000
PRESALE_WORTH_FEN = 3000
ACTOR = Actor.system("demo")


def _id_number(sequence: int) -> str:
    """A valid resident ID per sequence (Shanghai Huangpu, born 1 May 1990)."""
    body = f"31010119900501{sequence % 1000:03d}"
    return body + id_number_check_character(body)


def _leader(person: Person) -> GroupLeader:
    existing = GroupLeader.objects.filter(person=person).first()
    if existing is not None:
        return existing
    applied = leader_apply(
        person=person,
        display_name="王阿姨团购",
        pickup_name="张杨路便利店",
        pickup_address={
            "name": "王阿姨",
            "phone": "13800138000",
            "province": "上海",
            "city": "上海",
            "district": "浦东新区",
            "detail": "张杨路 100 弄 3 号 门口便利店",
        },
        pickup_hours="每天 09:00-20:00",
        real_name="王美丽",
        id_number=_id_number(person.pk),
    )
    return leader_approve(actor=ACTOR, leader_no=applied.leader_no)


def _groupbuy_sku(*, min_price_fen: int, units: int, not_sku: Sku | None = None) -> Sku | None:
    """The first active groupbuy product at `min_price_fen` or more with `units` in stock."""
    skus = [
        sku
        for sku in Sku.objects.select_related("product").filter(is_active=True).order_by("pk")
        if sku.product.is_active
        and sku.product.sold_in("groupbuy")
        and sku.price_fen >= min_price_fen
        and sku != not_sku
    ]
    available = stock_available_by_sku(sku_ids=[sku.pk for sku in skus])
    return next((sku for sku in skus if available.get(sku.pk, 0) >= units), None)


def _presale(not_sku: Sku | None) -> Presale | None:
    """A presale open for deposits now (balance in a week), on the live session's card."""
    presale = Presale.objects.filter(name=PRESALE_NAME).first()
    if presale is None:
        sku = _groupbuy_sku(min_price_fen=PRESALE_WORTH_FEN + 1000, units=20, not_sku=not_sku)
        if sku is None:
            return None
        now = clock.now()
        balance_starts = now + dt.timedelta(days=7)
        delivery = clock.to_shanghai(balance_starts).date() + dt.timedelta(days=1)
        presale = presale_create(
            terms=PresaleTerms(
                name=PRESALE_NAME,
                sku_id=sku.pk,
                quantity=20,
                price_fen=sku.price_fen,
                deposit_fen=PRESALE_DEPOSIT_FEN,
                deposit_worth_fen=PRESALE_WORTH_FEN,
                deposit_starts_at=now - dt.timedelta(minutes=1),
                deposit_ends_at=now + dt.timedelta(days=6),
                balance_starts_at=balance_starts,
                balance_ends_at=balance_starts + dt.timedelta(days=3),
                delivery_from=delivery,
                delivery_to=delivery + dt.timedelta(days=3),
                per_person_limit=2,
            ),
            actor=ACTOR,
        )
        presales_advance()
    session = LiveSession.objects.filter(title=NOW_TITLE).first()
    if session is not None and presale.live_session_code != session.code:
        presale = presale_live_launch(
            presale_no=presale.presale_no, session_code=session.code, actor=ACTOR
        )
    return presale


COURSE_CODE = "pickup-basics"


def _course() -> None:
    """新团长入门: three short lessons and a four-question quiz (pass at 75 %)."""
    if TrainingCourse.objects.filter(code=COURSE_CODE).exists():
        return
    course_create(
        code=COURSE_CODE,
        title="新团长入门：自提点的一天",
        summary="核销提货码、冷链商品保管、佣金怎么算",
        pass_percent=75,
        lessons=[
            LessonInput(
                title="核销提货码",
                body="顾客到店出示 8 位提货码或二维码。在「待自提」输入或扫码核销，"
                "核销后订单显示已自提；别人的提货码查不到，也无法核销。",
            ),
            LessonInput(
                title="冷链商品怎么放",
                body="鲜奶、酸奶放冷藏（0–4 ℃），水饺、汤圆放冷冻（−18 ℃ 以下）。"
                "到货后 30 分钟内入柜；顾客当天没取的，次日先核对保质期再交付。",
            ),
            LessonInput(
                title="佣金怎么算",
                body="顾客支付后按商品和等级的比例计佣，售后期（7 天）过后变为可结算，"
                "运营每月生成结算单，复核后打款；退款会按比例扣回。",
            ),
        ],
        questions=[
            QuestionInput(
                text="顾客来取货，第一步做什么？",
                choices=["先核销提货码", "直接把货给他", "记在本子上"],
                correct_choice=1,
            ),
            QuestionInput(
                text="鲜奶应放在哪里？",
                choices=["常温货架", "冷藏柜（0–4 ℃）", "冷冻柜"],
                correct_choice=2,
            ),
            QuestionInput(
                text="佣金什么时候可以结算？",
                choices=["支付后立刻", "售后期过后", "顾客收货当天"],
                correct_choice=2,
            ),
            QuestionInput(
                text="顾客退款后，这单的佣金会？",
                choices=["不变", "按比例扣回", "翻倍"],
                correct_choice=2,
            ),
        ],
        published=True,
        actor=ACTOR,
    )


def seed_groupbuy(*, people: list[Person]) -> dict[str, str]:
    """`people`: the demo consumers; the last one runs the pickup point (a consumer, as every
    leader is), so the demo needs no extra person."""
    if not people:
        return {"leader": "", "phone": "", "deal": "", "group": "", "presale": ""}
    leader_levels_ensure_defaults()
    leader = _leader(people[-1])
    _course()
    if not CommissionRule.objects.exists():
        since = clock.now() - dt.timedelta(days=1)
        commission_rule_create(actor=ACTOR, depth=1, rate_bp=800, valid_from=since, note="演示")
        commission_rule_create(actor=ACTOR, depth=2, rate_bp=200, valid_from=since, note="演示")
    deal = GroupDeal.objects.filter(title=DEAL_TITLE).first()
    sku = _groupbuy_sku(min_price_fen=1000, units=30) if deal is None else deal.sku
    if deal is None and sku is not None:
        price = sku.price_fen
        deal = deal_create(
            title=DEAL_TITLE,
            sku_id=sku.pk,
            tiers=[
                {"size": 2, "price_fen": price * 90 // 100},
                {"size": 4, "price_fen": price * 80 // 100},
                {"size": 6, "price_fen": price * 70 // 100},
            ],
            quantity=30,
            group_minutes=24 * 60,
            starts_at=clock.now() - dt.timedelta(minutes=1),
            ends_at=clock.now() + dt.timedelta(days=7),
            actor=ACTOR,
        )
    presale = _presale(not_sku=deal.sku if deal is not None else None)
    presale_no = presale.presale_no if presale is not None else ""
    if deal is None:
        return {
            "leader": leader.leader_no,
            "phone": _phone(leader),
            "deal": "",
            "group": "",
            "presale": presale_no,
        }
    group = DealGroup.objects.filter(deal=deal, leader=leader).first()
    if group is None and deal.ends_at > clock.now():
        group = group_open_for_leader(deal_no=deal.deal_no, leader_person=leader.person)
    return {
        "leader": leader.leader_no,
        "phone": _phone(leader),
        "deal": deal.deal_no,
        "group": group.group_no if group is not None else "",
        "presale": presale_no,
    }


def _phone(leader: GroupLeader) -> str:
    """The leader's own phone, to sign in with on /m/login (the demo's SMS is the sandbox)."""
    identifier = Identifier.objects.filter(
        person_id=leader.person_id, type=IdentifierType.PHONE
    ).first()
    return str(identifier.value) if identifier is not None else ""
