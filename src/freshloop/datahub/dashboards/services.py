"""Acquisition spend entered by operators: what a channel or campaign cost over a period, the
numerator of the dashboard's new-customer acquisition cost (`selectors.dashboard_acquisition_cost`
prorates each record over the days it covers). Spend is money, so every write is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.datahub.dashboards.errors import AcquisitionSpendInvalid
from freshloop.datahub.dashboards.schemas import CHANNELS
from freshloop.datahub.models import AcquisitionSpend

MAX_SPEND_DAYS = 3 * 366  # a record longer than the dashboard's longest period is a typo
MAX_AMOUNT_FEN = 10**13  # ¥1000 亿: beyond this the number was mistyped
CAMPAIGN_MAX_LENGTH = 64
NOTE_MAX_LENGTH = 200


def spend_channels() -> list[tuple[str, str]]:
    """The channels money can be spent in: the dashboard's sales channels (not the system's
    own "server" channel)."""
    return list(CHANNELS.items())


def _spend_facts(spend: AcquisitionSpend) -> dict[str, Any]:
    """What the audit log keeps of a spend record."""
    return {
        "channel": spend.channel,
        "campaign": spend.campaign,
        "starts_on": spend.starts_on,
        "ends_on": spend.ends_on,
        "amount_fen": spend.amount_fen,
        "note": spend.note,
    }


def acquisition_spend_validate(
    *, channel: str, campaign: str, starts_on: dt.date, ends_on: dt.date, amount_fen: int
) -> None:
    """Raise `AcquisitionSpendInvalid` (with the field in `detail`) for the first problem."""
    allowed = [value for value, _ in spend_channels()]
    if channel not in allowed:
        raise AcquisitionSpendInvalid(
            "未知的渠道", detail={"field": "channel", "value": channel, "allowed": allowed}
        )
    if len(campaign.strip()) > CAMPAIGN_MAX_LENGTH:
        raise AcquisitionSpendInvalid(
            f"活动名称不能超过 {CAMPAIGN_MAX_LENGTH} 个字", detail={"field": "campaign"}
        )
    if not isinstance(starts_on, dt.date) or not isinstance(ends_on, dt.date):
        raise AcquisitionSpendInvalid("请填写开始和结束日期", detail={"field": "starts_on"})
    if ends_on < starts_on:
        raise AcquisitionSpendInvalid(
            "结束日期不能早于开始日期",
            detail={"field": "ends_on", "starts_on": starts_on, "ends_on": ends_on},
        )
    if (ends_on - starts_on).days + 1 > MAX_SPEND_DAYS:
        raise AcquisitionSpendInvalid("一条花费记录最长 3 年", detail={"field": "ends_on"})
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise AcquisitionSpendInvalid("花费金额应大于 0", detail={"field": "amount_fen"})
    if amount_fen > MAX_AMOUNT_FEN:
        raise AcquisitionSpendInvalid("花费金额过大，请检查", detail={"field": "amount_fen"})


@transaction.atomic
def acquisition_spend_record(
    *,
    channel: str,
    campaign: str,
    starts_on: dt.date,
    ends_on: dt.date,
    amount_fen: int,
    actor: Actor,
    note: str = "",
) -> AcquisitionSpend:
    """Record money spent on `channel` (optionally one `campaign`; for a single live session
    use its session code as the campaign) from `starts_on` to `ends_on`, both included."""
    acquisition_spend_validate(
        channel=channel,
        campaign=campaign,
        starts_on=starts_on,
        ends_on=ends_on,
        amount_fen=amount_fen,
    )
    spend = AcquisitionSpend.objects.create(
        channel=channel,
        campaign=campaign.strip(),
        starts_on=starts_on,
        ends_on=ends_on,
        amount_fen=amount_fen,
        note=note.strip()[:NOTE_MAX_LENGTH],
        created_by=actor.label[:64],
        created_at=clock.now(),
    )
    audit_record(
        actor=actor,
        action="datahub.acquisition_spend_record",
        target=spend,
        after=_spend_facts(spend),
    )
    return spend


@transaction.atomic
def acquisition_spend_delete(*, spend: AcquisitionSpend, actor: Actor) -> None:
    """Remove a mistaken record (records are not edited: delete and enter it again)."""
    audit_record(
        actor=actor,
        action="datahub.acquisition_spend_delete",
        target_type=AcquisitionSpend._meta.label,
        target_id=str(spend.pk),
        before=_spend_facts(spend),
    )
    spend.delete()
