"""Settlement runs (GB-2): an operator settles a period, a second operator approves, the
money goes out statement by statement.

Rules chosen (docs/groupbuy-commission.md)
- A run covers what became settleable before its cut-off: the end of `period_end` (a
  Shanghai date, already over). Periods follow each other: a run's period starts at the
  previous (not cancelled) run's cut-off.
- A leader's statement amount is their settleable balance at the cut-off, counting every
  earlier settlement: the legs on `leader_settleable` before the cut-off plus every `settle`
  leg. So a refund after an earlier payout (a negative balance) is netted off here; a leader
  whose balance is zero or negative gets no statement, and the receivable carries forward.
- At most one run waits for approval (a partial unique index); a new run cannot start until
  it is approved or cancelled, so no money is counted twice.
- Approval (draft → approved) is by another operator than the creator (four eyes) and moves
  each statement's amount settleable → payable. Marking a statement paid (with the bank or
  payment reference) moves it payable → cash; the run is paid when all its statements are.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.ids import new_id
from freshloop.groupbuy.commission.errors import (
    CommissionInputInvalid,
    SettlementRunNotFound,
    SettlementRunOpen,
    SettlementSelfApproval,
    SettlementStateInvalid,
    StatementNotFound,
)
from freshloop.groupbuy.commission.ledger import ledger_post, movement
from freshloop.groupbuy.commission.locks import settlement_run_lock, statement_lock
from freshloop.groupbuy.commission.models import (
    LedgerAccount,
    LedgerKind,
    LedgerLeg,
    SettlementRun,
    SettlementStatement,
    SettlementStatus,
)


def period_cutoff(period_end: dt.date) -> dt.datetime:
    """The end of a Shanghai calendar day, as aware UTC."""
    next_day = period_end + dt.timedelta(days=1)
    return dt.datetime.combine(next_day, dt.time(0), tzinfo=clock.SHANGHAI).astimezone(dt.UTC)


def _state_error(run: SettlementRun) -> SettlementStateInvalid:
    return SettlementStateInvalid(
        f"结算批次当前为「{run.get_status_display()}」，不能执行此操作",
        detail={"run_no": run.run_no, "status": run.status},
    )


def settlement_run_create(*, actor: Actor, period_end: dt.date) -> SettlementRun:
    """Open a run for the period ending on `period_end` with a statement per leader owed
    money. Refused while another run waits for approval."""
    cutoff = period_cutoff(period_end)
    if cutoff > clock.now():
        raise CommissionInputInvalid.for_fields(
            [("period_end", "结算周期须已结束（截止日应早于今天）")]
        )
    if SettlementRun.objects.filter(status=SettlementStatus.DRAFT).exists():
        raise SettlementRunOpen()
    try:
        with transaction.atomic():
            return _create(actor, cutoff)
    except IntegrityError:
        raise SettlementRunOpen() from None  # another operator opened one a moment ago


def _create(actor: Actor, cutoff: dt.datetime) -> SettlementRun:
    now = clock.now()
    # Claim the one draft slot first: what is read below is read after any approval that
    # was in flight has committed.
    run = SettlementRun.objects.create(
        run_no=new_id("CS"), period_end=cutoff, created_by=actor.label[:150], created_at=now
    )
    previous = (
        SettlementRun.objects.exclude(pk=run.pk)
        .exclude(status=SettlementStatus.CANCELLED)
        .order_by("-period_end", "-pk")
        .first()
    )
    if previous is not None and cutoff <= previous.period_end:
        local = clock.to_shanghai(previous.period_end) - dt.timedelta(days=1)
        raise CommissionInputInvalid.for_fields(
            [("period_end", f"截止日应晚于上一结算批次的截止日 {local:%Y-%m-%d}")]
        )
    run.period_start = previous.period_end if previous else None
    settleable = LedgerLeg.objects.filter(account=LedgerAccount.LEADER_SETTLEABLE)
    balances = dict(
        settleable.filter(Q(occurred_at__lt=cutoff) | Q(kind=LedgerKind.SETTLE))
        .values("leader_id")
        .annotate(total=Sum("amount_fen"))
        .values_list("leader_id", "total")
    )
    in_period = settleable.filter(occurred_at__lt=cutoff).exclude(kind=LedgerKind.SETTLE)
    if run.period_start is not None:
        in_period = in_period.filter(occurred_at__gte=run.period_start)
    moved: dict[int, dict[str, int]] = defaultdict(dict)
    for leader_id, kind, total in (
        in_period.values("leader_id", "kind").annotate(total=Sum("amount_fen"))
    ).values_list("leader_id", "kind", "total"):
        moved[leader_id][kind] = total
    statements = []
    for leader_id in sorted(balances):
        amount = int(balances[leader_id] or 0)
        if amount <= 0:
            continue  # nothing owed, or a receivable carried into a later run
        matured = moved[leader_id].get(LedgerKind.MATURE, 0)
        reversed_ = moved[leader_id].get(LedgerKind.REVERSE, 0)
        statements.append(
            SettlementStatement(
                statement_no=new_id("ST"),
                run=run,
                leader_id=leader_id,
                opening_fen=amount - matured - reversed_,
                matured_fen=matured,
                reversed_fen=reversed_,
                amount_fen=amount,
                created_at=now,
            )
        )
    SettlementStatement.objects.bulk_create(statements)
    run.total_fen = sum(statement.amount_fen for statement in statements)
    run.statement_count = len(statements)
    run.save(update_fields=["period_start", "total_fen", "statement_count"])
    audit_record(
        actor=actor,
        action="groupbuy.settlement.create",
        target=run,
        after={
            "period_start": run.period_start,
            "period_end": cutoff,
            "total_fen": run.total_fen,
            "statement_count": run.statement_count,
        },
    )
    return run


def settlement_run_approve(*, actor: Actor, run_no: str) -> SettlementRun:
    """A second operator approves a draft run: each statement's amount becomes payable."""
    with transaction.atomic():
        run = settlement_run_lock(run_no)
        if run is None:
            raise SettlementRunNotFound(detail={"run_no": run_no})
        if run.status != SettlementStatus.DRAFT:
            raise _state_error(run)
        if actor.label == run.created_by:
            raise SettlementSelfApproval()
        now = clock.now()
        for statement in run.statements.order_by("pk"):
            ledger_post(
                ref=f"settle:{statement.statement_no}",
                kind=LedgerKind.SETTLE,
                leader_id=statement.leader_id,
                legs=movement(
                    LedgerAccount.LEADER_SETTLEABLE,
                    LedgerAccount.LEADER_PAYABLE,
                    statement.amount_fen,
                ),
                statement_id=statement.pk,
                memo=f"结算单 {statement.statement_no} 审核通过",
                actor_label=actor.label,
            )
        run.statements.update(status=SettlementStatus.APPROVED)
        run.status = SettlementStatus.APPROVED if run.statement_count else SettlementStatus.PAID
        run.approved_by = actor.label[:150]
        run.approved_at = now
        run.save(update_fields=["status", "approved_by", "approved_at"])
        audit_record(
            actor=actor,
            action="groupbuy.settlement.approve",
            target=run,
            before={"status": SettlementStatus.DRAFT},
            after={"status": run.status, "total_fen": run.total_fen},
        )
    return run


def settlement_run_cancel(*, actor: Actor, run_no: str) -> SettlementRun:
    """Throw away a draft run (nothing was posted); its period can be run again."""
    with transaction.atomic():
        run = settlement_run_lock(run_no)
        if run is None:
            raise SettlementRunNotFound(detail={"run_no": run_no})
        if run.status != SettlementStatus.DRAFT:
            raise _state_error(run)
        run.statements.update(status=SettlementStatus.CANCELLED)
        run.status = SettlementStatus.CANCELLED
        run.cancelled_by = actor.label[:150]
        run.cancelled_at = clock.now()
        run.save(update_fields=["status", "cancelled_by", "cancelled_at"])
        audit_record(
            actor=actor,
            action="groupbuy.settlement.cancel",
            target=run,
            before={"status": SettlementStatus.DRAFT},
            after={"status": run.status},
        )
    return run


def statement_mark_paid(
    *, actor: Actor, statement_no: str, payment_ref: str
) -> SettlementStatement:
    """The money reached the leader (bank transfer or payout reference): payable → cash."""
    reference = payment_ref.strip()[:64] if isinstance(payment_ref, str) else ""
    if not reference:
        raise CommissionInputInvalid.for_fields([("payment_ref", "请填写打款流水号")])
    found = SettlementStatement.objects.filter(statement_no=statement_no).select_related("run")
    known = found.first()
    if known is None:
        raise StatementNotFound(detail={"statement_no": statement_no})
    with transaction.atomic():
        run = settlement_run_lock(known.run.run_no)
        statement = statement_lock(statement_no)
        if run is None or statement is None:
            raise StatementNotFound(detail={"statement_no": statement_no})
        if statement.status != SettlementStatus.APPROVED:
            raise SettlementStateInvalid(
                f"结算单当前为「{statement.get_status_display()}」，不能标记打款",
                detail={"statement_no": statement_no, "status": statement.status},
            )
        now = clock.now()
        ledger_post(
            ref=f"pay:{statement.statement_no}",
            kind=LedgerKind.PAY,
            leader_id=statement.leader_id,
            legs=movement(LedgerAccount.LEADER_PAYABLE, LedgerAccount.CASH, statement.amount_fen),
            statement_id=statement.pk,
            memo=f"结算单 {statement.statement_no} 已打款（{reference}）",
            actor_label=actor.label,
        )
        statement.status = SettlementStatus.PAID
        statement.paid_at = now
        statement.paid_by = actor.label[:150]
        statement.payment_ref = reference
        statement.save(update_fields=["status", "paid_at", "paid_by", "payment_ref"])
        if not run.statements.exclude(status=SettlementStatus.PAID).exists():
            run.status = SettlementStatus.PAID
            run.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="groupbuy.settlement.pay",
            target=statement,
            before={"status": SettlementStatus.APPROVED},
            after={
                "status": statement.status,
                "amount_fen": statement.amount_fen,
                "ref": reference,
            },
        )
    return statement
