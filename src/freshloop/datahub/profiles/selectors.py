"""DH-3 the 360° profile, the reads: everything known about one person, on one page, and
finding that person.

Sources: identity (masked identifiers, traits, the people merged into this one), orders and
coupons (transactional database, including rows still filed under merged-away ids), the event
store (live sessions watched, the cross-channel timeline; by `pid`, the survivor, and the ids
merged into it whose merge the store has not applied yet), the tags (computed `person_tags`,
operators' manual tags) and the intelligence module's predictions with their reasons.

PII never leaves here unmasked: the page gets a snapshot of the person (never the model, whose
identifiers and private traits are one attribute away), identifiers go through
`identity.selectors`, private traits are not read, the timeline shows a whitelist of event
properties only, and a mobile number typed into free text (a search, a refund reason, a trait)
is masked like an identifier.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from typing import Any

from django.db.models import Count, Q, Sum

from freshloop.catalog.models import Product, Sku
from freshloop.core import clock
from freshloop.core.clock import to_shanghai
from freshloop.core.crypto import mask_phone
from freshloop.core.money import format_fen
from freshloop.datahub.eventstore.selectors import EventStore, event_store
from freshloop.datahub.ingestion.selectors import event_label
from freshloop.datahub.models import EventDefinition, SourceChannel
from freshloop.datahub.predictions.selectors import person_predictions_get
from freshloop.datahub.profiles.schemas import (
    CouponRow,
    HourBar,
    LiveSessionRow,
    LiveSummary,
    OrderRow,
    OrderSummary,
    PersonProfile,
    PredictionReason,
    PredictionsSection,
    ProfilePerson,
    TagRow,
    TimelineEntry,
    TimelinePage,
)
from freshloop.datahub.tags.schemas import TAG_FIELDS
from freshloop.datahub.tags.selectors import manual_tags_list, person_tags_get
from freshloop.datahub.traits import trait_label, trait_value_label
from freshloop.identity.models import MergeRecord, Person, PersonStatus
from freshloop.identity.selectors import (
    PRIVATE_TRAITS,
    person_identifiers_masked,
    person_ids_by_any_identifier,
)
from freshloop.live.models import LiveSession
from freshloop.messaging.selectors import (
    marketing_opted_out_channel_labels,
    marketing_timeline_for_person,
)
from freshloop.orders.models import Order, OrderStatus
from freshloop.promotions.models import Coupon, CouponStatus
from freshloop.promotions.selectors import coupon_value_text

TIMELINE_PAGE_SIZE = 50
PROFILE_MESSAGES = 30
ORDERS_SHOWN = 20
COUPONS_SHOWN = 20
MAX_MERGE_HOPS = 10

CHANNEL_LABELS: dict[str, str] = {
    **{str(value): str(label) for value, label in SourceChannel.choices},
    "groupbuy": "社区团购",
}

# Properties worth a glance on the timeline; anything else (ids of other people, addresses,
# free text) stays out of the operator's screen.
_PROPERTY_LABELS: dict[str, str] = {
    "order_no": "订单",
    "amount_fen": "金额",
    "discount_fen": "优惠",
    "sku_id": "商品",  # named with its spec (_ProductNames), never by id
    "product_id": "商品",
    "quantity": "数量",
    "dwell_seconds": "时长",
    "query": "搜索词",
    "path": "页面",
    "title": "标题",
    "store_code": "门店",
    "template_code": "券模板",
    "coupon_used": "用券",
    "province": "省份",
    "reason": "原因",
    "length": "评论字数",
    "count": "次数",
    "to_level_code": "新等级",
    "target": "分享到",
}
_MONEY_PROPERTIES = {"amount_fen", "discount_fen"}
# Typed by people, so possibly holding a phone number.
_FREE_TEXT_PROPERTIES = {"query", "path", "title", "reason", "target"}
# A mainland mobile number, with or without +86, not part of a longer run of digits.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
# Computed tags whose TAG_FIELDS label names the stored unit; the page shows them formatted.
_TAG_LABELS = {
    "monetary_fen": "累计消费",
    "coupon_share": "用券订单占比",
    "recency_days": "最近购买",
}


def phones_masked(text: str) -> str:
    """`text` with every mainland mobile number in it masked (138****5678)."""
    return _MOBILE.sub(lambda m: mask_phone(f"+86{m[1]}{m[2]}{m[3]}"), text)


def channel_label(channel: str | None) -> str:
    return CHANNEL_LABELS.get(channel or "", channel or "")


def _shanghai(naive_utc: dt.datetime | None) -> dt.datetime | None:
    if naive_utc is None:
        return None
    return to_shanghai(naive_utc.replace(tzinfo=dt.UTC))


def _duration(seconds: int) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    if hours:
        return f"{hours} 小时 {minute} 分"
    if minutes:
        return f"{minute} 分 {second} 秒"
    return f"{second} 秒"


# --- who ---------------------------------------------------------------------------------------


def person_for_profile(*, one_id: str) -> Person | None:
    """The person a one_id names now: a merged-away OneID leads to its survivor."""
    person = Person.objects.filter(one_id=one_id).first()
    for _ in range(MAX_MERGE_HOPS):
        if person is None or person.merged_into_id is None:
            return person
        person = Person.objects.filter(pk=person.merged_into_id).first()
    return person


def people_search(*, term: str, limit: int) -> list[Person]:
    """People whose OneID is `term` or who hold an identifier equal to it, survivors only
    (a hit on a merged-away person shows the person it lives on as)."""
    ids = set(person_ids_by_any_identifier(term=term))
    ids |= set(Person.objects.filter(one_id=term).values_list("pk", flat=True))
    people: dict[int, Person] = {}
    for person in Person.objects.filter(pk__in=ids).order_by("pk"):
        survivor = person_for_profile(one_id=person.one_id) or person
        people.setdefault(survivor.pk, survivor)
    return list(people.values())[:limit]


def profile_person_ids(*, person: Person) -> list[int]:
    """The person and everyone merged into them (rows other modules have not re-pointed yet
    still belong to this profile). A merge re-points earlier merges at the survivor, so one
    hop of `merged_into` finds a whole chain."""
    merged = Person.objects.filter(merged_into=person).values_list("pk", flat=True)
    return [person.pk, *sorted(merged)]


def profile_merged_from(*, person: Person) -> list[str]:
    """The OneIDs now living on as `person`, in the order they were merged (a chain C → B → A
    lists C too: its own merge record names B, but C now points at A)."""
    merged = Person.objects.filter(merged_into=person)
    order = {
        from_id: index
        for index, from_id in enumerate(
            MergeRecord.objects.filter(from_person__in=merged)
            .order_by("created_at", "pk")
            .values_list("from_person_id", flat=True)
        )
    }
    people = sorted(merged.values_list("pk", "one_id"), key=lambda p: (order.get(p[0], -1), p[0]))
    return [one_id for _, one_id in people]


def profile_person(*, person: Person) -> ProfilePerson:
    return ProfilePerson(
        pk=person.pk,
        one_id=person.one_id,
        display_name=phones_masked(person.display_name),
        status=person.status,
        status_label=PersonStatus(person.status).label,
        source=person.source,
        created_at=to_shanghai(person.created_at),
    )


# --- sections ----------------------------------------------------------------------------------


_NOT_PAID = {OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED}


def profile_orders(*, person_ids: list[int], limit: int = ORDERS_SHOWN) -> OrderSummary:
    orders = Order.objects.filter(person_id__in=person_ids)
    totals = orders.aggregate(
        count=Count("pk"),
        paid_count=Count("pk", filter=~Q(status__in=_NOT_PAID)),
        paid_fen=Sum("paid_fen"),
        refunded_fen=Sum("refunded_fen"),
    )
    rows = []
    for order in orders.prefetch_related("lines").order_by("-created_at", "-pk")[:limit]:
        lines = list(order.lines.all())
        items = "、".join(f"{line.product_name}×{line.quantity}" for line in lines[:3])
        if len(lines) > 3:
            items += f" 等 {len(lines)} 件"
        rows.append(
            OrderRow(
                order_no=order.order_no,
                created_at=to_shanghai(order.created_at),
                channel=order.get_channel_display(),
                status=order.get_status_display(),
                items=items,
                total=format_fen(order.total_fen),
                paid=format_fen(order.paid_fen) if order.paid_fen else "—",
            )
        )
    net = (totals["paid_fen"] or 0) - (totals["refunded_fen"] or 0)
    return OrderSummary(
        rows=rows,
        count=totals["count"] or 0,
        paid_count=totals["paid_count"] or 0,
        paid_total=format_fen(net),
    )


def profile_coupons(
    *, person_ids: list[int], limit: int = COUPONS_SHOWN, now: dt.datetime | None = None
) -> list[CouponRow]:
    """The newest coupons. One still "available" past its end (the expiry job has not swept
    it yet) shows as expired, and one not yet valid is not usable."""
    moment = now or clock.now()
    coupons = (
        Coupon.objects.filter(person_id__in=person_ids)
        .select_related("template")
        .order_by("-issued_at", "-pk")[:limit]
    )
    rows = []
    for coupon in coupons:
        status = coupon.get_status_display()
        available = coupon.status == CouponStatus.AVAILABLE
        if available and coupon.valid_until <= moment:
            status, available = CouponStatus.EXPIRED.label, False
        rows.append(
            CouponRow(
                code=coupon.code,
                name=coupon.template.name,
                value=coupon_value_text(coupon.template),
                status=str(status),
                usable=available and coupon.valid_from <= moment,
                valid_until=to_shanghai(coupon.valid_until),
                source=coupon.get_source_display(),
            )
        )
    return rows


# $pids: the survivor and the ids merged into it (the store files an event under the
# survivor once the merge reached its person map; under the old id until then).
# dwell: the same reading as the live-session dashboard (`dashboard_live_sessions`): the
# larger of the summed steps the live module's heartbeats report (server source, `action` in
# the properties: seconds since the previous beat) and the longest running total any other
# source reported. bought: a paid order filed under the session.
_LIVE_SQL = """
SELECT live_session,
       min(occurred_at) FILTER (WHERE name = 'live_join') AS first_join,
       min(occurred_at) AS first_seen,
       greatest(COALESCE(sum(dwell) FILTER (WHERE is_step), 0),
                COALESCE(max(dwell) FILTER (WHERE NOT is_step), 0)) AS dwell,
       count(*) FILTER (WHERE name = 'live_comment') AS comments,
       COALESCE(bool_or(name IN ('order_paid', 'live_pay')), false) AS bought
FROM (
    SELECT live_session, name, occurred_at,
           CASE WHEN name IN ('live_heartbeat', 'live_leave')
                THEN TRY_CAST(json_extract_string(properties, '$.dwell_seconds') AS BIGINT)
           END AS dwell,
           COALESCE(source = 'server'
                    AND json_extract_string(properties, '$.action') IS NOT NULL, false)
               AS is_step
    FROM events_resolved
    WHERE pid IN (SELECT UNNEST($pids::BIGINT[])) AND COALESCE(live_session, '') <> ''
      AND (starts_with(name, 'live_') OR name = 'order_paid')
)
GROUP BY live_session
HAVING count(*) FILTER (WHERE starts_with(name, 'live_')) > 0
ORDER BY COALESCE(first_join, first_seen) DESC, live_session
"""


def profile_live(*, person_ids: list[int], store: EventStore | None = None) -> LiveSummary:
    rows = (store or event_store()).fetch(_LIVE_SQL, {"pids": person_ids})
    titles = dict(
        LiveSession.objects.filter(code__in=[row[0] for row in rows]).values_list("code", "title")
    )
    sessions = [
        LiveSessionRow(
            code=code,
            title=titles.get(code, ""),
            first_join=_shanghai(first_join or first_seen),
            dwell_seconds=int(dwell),
            dwell=_duration(int(dwell)),
            comments=int(comments),
            bought=bool(bought),
        )
        for code, first_join, first_seen, dwell, comments, bought in rows
    ]
    total = sum(s.dwell_seconds for s in sessions)
    return LiveSummary(
        sessions=sessions,
        total_dwell_seconds=total,
        total_dwell=_duration(total),
        total_comments=sum(s.comments for s in sessions),
    )


def _properties(properties: str | None) -> dict[str, Any]:
    try:
        values = json.loads(properties) if properties else {}
    except ValueError:
        values = {}
    return values if isinstance(values, dict) else {}


@dataclasses.dataclass(frozen=True)
class _ProductNames:
    """What the timeline's sku_id / product_id properties name: 牧场鲜牛奶 950ml, 牧场鲜牛奶."""

    skus: dict[int, str]
    products: dict[int, str]

    @classmethod
    def for_rows(cls, rows: list[dict[str, Any]]) -> _ProductNames:
        def ids(key: str) -> set[int]:
            return {
                value
                for row in rows
                if isinstance(value := row.get(key), int)
                and not isinstance(value, bool)
                and 0 < value < 2**63  # a tracked id the database could not even compare
            }

        skus = {
            pk: f"{name} {spec}".strip()
            for pk, name, spec in Sku.objects.filter(pk__in=ids("sku_id")).values_list(
                "pk", "product__name", "spec"
            )
        }
        products = dict(Product.objects.filter(pk__in=ids("product_id")).values_list("pk", "name"))
        return cls(skus=skus, products=products)

    def text(self, values: dict[str, Any]) -> str | None:
        """The SKU's product and spec, else the product's name; an id no longer in the
        catalog reads 已删除商品（SKU id）."""
        sku_id, product_id = values.get("sku_id"), values.get("product_id")
        if isinstance(sku_id, int) and sku_id:
            return self.skus.get(sku_id, f"已删除商品（SKU {sku_id}）")[:60]
        if isinstance(product_id, int) and product_id:
            return self.products.get(product_id, f"已删除商品（#{product_id}）")[:60]
        return None


def _details(
    values: dict[str, Any], amount_fen: int | None, names: _ProductNames
) -> list[tuple[str, str]]:
    values = dict(values)
    if amount_fen is not None and "amount_fen" not in values:
        values["amount_fen"] = amount_fen
    details = []
    product = names.text(values)
    for key, label in _PROPERTY_LABELS.items():
        if key in ("sku_id", "product_id"):
            if key == "sku_id" and product is not None:
                details.append(("商品", product))
            continue
        value = values.get(key)
        if value in (None, "", 0) and key != "coupon_used":
            continue
        if key == "coupon_used":
            if value is True:
                details.append((label, "是"))
            continue
        if key in _MONEY_PROPERTIES and isinstance(value, int):
            text = format_fen(value)
        elif key == "dwell_seconds" and isinstance(value, int):
            text = _duration(value)
        elif key in _FREE_TEXT_PROPERTIES:
            text = phones_masked(str(value))[:60]
        else:
            text = str(value)[:60]
        details.append((label, text))
    return details


def profile_timeline(
    *, person_ids: list[int], page: int = 1, store: EventStore | None = None
) -> TimelinePage:
    """The person's events across every channel, newest first, 50 a page (a page past the
    end shows the last one)."""
    store = store or event_store()
    with store.connect() as connection:
        counted = connection.execute(
            "SELECT count(*) FROM events_resolved WHERE pid IN (SELECT UNNEST($pids::BIGINT[]))",
            {"pids": person_ids},
        ).fetchone()
        total = int(counted[0]) if counted else 0
        pages = max(1, math.ceil(total / TIMELINE_PAGE_SIZE))
        page = min(max(1, page), pages)
        rows = connection.execute(
            "SELECT occurred_at, name, channel, live_session, amount_fen, properties "
            "FROM events_resolved WHERE pid IN (SELECT UNNEST($pids::BIGINT[])) "
            "ORDER BY occurred_at DESC, event_id DESC LIMIT $limit OFFSET $offset",
            {
                "pids": person_ids,
                "limit": TIMELINE_PAGE_SIZE,
                "offset": (page - 1) * TIMELINE_PAGE_SIZE,
            },
        ).fetchall()
    definitions = dict(EventDefinition.objects.values_list("name", "description"))
    parsed = [_properties(row[5]) for row in rows]
    names = _ProductNames.for_rows(parsed)
    entries = []
    for (occurred_at, name, channel, live_session, amount_fen, _), values in zip(
        rows, parsed, strict=True
    ):
        shown_at = _shanghai(occurred_at)
        assert shown_at is not None
        entries.append(
            TimelineEntry(
                occurred_at=shown_at,
                name=name,
                label=event_label(name, definitions),
                channel=channel,
                channel_label=channel_label(channel),
                live_session=live_session or "",
                details=_details(values, amount_fen, names),
            )
        )
    return TimelinePage(entries=entries, page=page, pages=pages, total=total)


def _tag_text(field: str, value: Any) -> str:
    if field == "monetary_fen" and isinstance(value, int):
        return format_fen(value)
    if field == "coupon_share" and isinstance(value, float):
        return f"{value:.0%}"
    if field == "recency_days" and isinstance(value, int):
        return f"{value} 天前"
    if isinstance(value, list):
        return "、".join(str(v) for v in value) or "—"
    return str(value)


def profile_computed_tags(
    *, pid: int, store: EventStore | None = None
) -> tuple[list[TagRow], dt.datetime | None]:
    tags = person_tags_get(person_id=pid, store=store)
    if tags is None:
        return [], None
    rows = [
        TagRow(
            field=field,
            label=_TAG_LABELS.get(field, spec.label),
            value=_tag_text(field, tags.get(field)),
        )
        for field, spec in TAG_FIELDS.items()
        if tags.get(field) not in (None, [], "")
    ]
    if tags.get("preferred_channel"):
        rows = [
            dataclasses.replace(row, value=channel_label(tags["preferred_channel"]))
            if row.field == "preferred_channel"
            else row
            for row in rows
        ]
    computed_at = tags.get("computed_at")
    return rows, to_shanghai(computed_at) if isinstance(computed_at, dt.datetime) else None


# --- the whole page ----------------------------------------------------------------------------


PREDICTIONS_PENDING = PredictionsSection(
    available=False,
    note="还没有预测：模型每晚自动训练，客户有足够的行为后显示流失风险、购买概率、终身价值和最佳触达时段。",
    rows=[],
)
HIGH_RISK, MEDIUM_RISK = 0.7, 0.4


def _risk_level(value: float) -> str:
    return "高" if value >= HIGH_RISK else "中" if value >= MEDIUM_RISK else "低"


def _reasons(items: list[dict[str, Any]]) -> list[PredictionReason]:
    return [
        PredictionReason(
            label=str(item.get("label", "")),
            value=str(item.get("value", "")),
            raises=float(item.get("effect", 0)) > 0,
            effect=float(item.get("effect", 0)),
        )
        for item in items
    ]


def _hour_bars(shares: list[float], best: int | None) -> list[HourBar]:
    if len(shares) != 24:
        return []
    tallest = max(shares) or 1.0
    return [
        HourBar(hour=hour, share=share, height=round(100 * share / tallest), best=hour == best)
        for hour, share in enumerate(shares)
    ]


def profile_predictions(*, person_id: int, store: EventStore | None = None) -> PredictionsSection:
    """The person's scores with their top reasons and hourly response profile, as the
    intelligence module last wrote them."""
    scores = person_predictions_get(person_id=person_id, store=store)
    if scores is None:
        return PREDICTIONS_PENDING
    rows: list[tuple[str, str]] = []
    if scores.get("churn_risk") is not None:
        risk = float(scores["churn_risk"])
        rows.append(("流失风险", f"{risk:.0%}（{_risk_level(risk)}）"))
    if scores.get("purchase_propensity") is not None:
        rows.append(("30天内购买概率", f"{float(scores['purchase_propensity']):.0%}"))
    if scores.get("clv_fen") is not None:
        top = 100 - float(scores.get("clv_percentile") or 0)
        rows.append(
            ("预计一年价值", f"{format_fen(int(scores['clv_fen']))}（前 {max(top, 1):.0f}%）")
        )
        rows.append(("预计一年购买次数", f"{float(scores['expected_orders_365d'] or 0):.1f} 次"))
        rows.append(("仍活跃的概率", f"{float(scores['probability_alive'] or 0):.0%}"))
    best = scores.get("best_contact_hour")
    if best is not None:
        rows.append(
            (
                "最佳触达时段",
                f"{int(best):02d}:00–{(int(best) + 1) % 24:02d}:00"
                f"（依据 {int(scores.get('contact_events') or 0)} 次互动）",
            )
        )
    return PredictionsSection(
        available=True,
        note="",
        rows=rows,
        churn_reasons=_reasons(scores.get("churn_reasons") or []),
        propensity_reasons=_reasons(scores.get("propensity_reasons") or []),
        hours=_hour_bars(list(scores.get("contact_hours") or []), best),
        computed_at=to_shanghai(scores["computed_at"]),
    )


def _trait_text(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return phones_masked("、".join(str(v) for v in value))
    return phones_masked(str(value))


def profile_traits(*, person: Person) -> list[tuple[str, str]]:
    """The public traits by name. Identifying ones live sealed in `private_traits` and are not
    read; a name on that list found among the public ones (data from before the split) is
    left out too."""
    traits = person.traits if isinstance(person.traits, dict) else {}
    return [
        (trait_label(name), trait_value_label(name, _trait_text(value)))
        for name, value in sorted(traits.items())
        if name not in PRIVATE_TRAITS
    ]


def person_profile(
    *, person: Person, page: int = 1, store: EventStore | None = None
) -> PersonProfile:
    """Everything the profile page shows about `person` (a survivor: see person_for_profile)."""
    store = store or event_store()
    person_ids = profile_person_ids(person=person)
    computed_tags, computed_at = profile_computed_tags(pid=person.pk, store=store)
    shown = profile_person(person=person)
    return PersonProfile(
        person=shown,
        status_label=shown.status_label,
        identifiers=person_identifiers_masked(person=person),
        traits=profile_traits(person=person),
        merged_from=profile_merged_from(person=person),
        orders=profile_orders(person_ids=person_ids),
        coupons=profile_coupons(person_ids=person_ids),
        live=profile_live(person_ids=person_ids, store=store),
        computed_tags=computed_tags,
        tags_computed_at=computed_at,
        manual_tags=manual_tags_list(person_id=person.pk),
        predictions=profile_predictions(person_id=person.pk, store=store),
        timeline=profile_timeline(person_ids=person_ids, page=page, store=store),
        messages=marketing_timeline_for_person(person_id=person.pk, limit=PROFILE_MESSAGES),
        opted_out_channels=marketing_opted_out_channel_labels(person_id=person.pk),
    )
