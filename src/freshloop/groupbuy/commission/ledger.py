"""The commission ledger (GB-2): append-only double entry in integer fen.

Accounts (docs/groupbuy-commission.md). A leg's amount credits its account when positive and
debits it when negative; every leg carries the leader the money is about.

| movement | debit (−) | credit (+) |
|---|---|---|
| accrue (order paid) | commission_expense | leader_pending |
| mature (after-sales window over) | leader_pending | leader_settleable |
| reverse (refund, before maturing) | leader_pending | commission_expense |
| reverse (refund, after maturing) | leader_settleable | commission_expense |
| settle (statement approved) | leader_settleable | leader_payable |
| pay (statement paid out) | leader_payable | cash |

So a leader's pending, settleable and payable balances are the sums of their legs on those
accounts (what the platform owes them, positive); a settleable balance below zero is a
receivable — a refund after payout — which the next statement nets off.

Invariants: every transaction's legs sum to zero and none is zero; a `ref` is posted at most
once (the unique key makes every movement idempotent); rows are never changed or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence

from freshloop.core import clock
from freshloop.groupbuy.commission.models import (
    LedgerAccount,
    LedgerKind,
    LedgerLeg,
    LedgerTransaction,
)


class UnbalancedPosting(ValueError):
    """A programming error: a transaction whose legs do not sum to zero, or a zero leg."""


def ledger_post(
    *,
    ref: str,
    kind: LedgerKind,
    leader_id: int,
    legs: Sequence[tuple[LedgerAccount, int]],
    accrual_id: int | None = None,
    statement_id: int | None = None,
    order_no: str = "",
    memo: str = "",
    actor_label: str = "",
) -> LedgerTransaction | None:
    """Post one balanced transaction in the caller's transaction; None when `ref` was
    posted before (a repeated event, a retried job)."""
    if not legs or sum(amount for _, amount in legs) != 0 or any(a == 0 for _, a in legs):
        raise UnbalancedPosting(f"{ref}: legs {list(legs)} do not balance")
    if LedgerTransaction.objects.filter(ref=ref).exists():
        return None
    now = clock.now()
    posted = LedgerTransaction.objects.create(
        ref=ref,
        kind=kind,
        leader_id=leader_id,
        accrual_id=accrual_id,
        statement_id=statement_id,
        order_no=order_no,
        memo=memo[:200],
        actor_label=actor_label[:150],
        occurred_at=now,
    )
    LedgerLeg.objects.bulk_create(
        LedgerLeg(
            transaction=posted,
            account=account,
            leader_id=leader_id,
            amount_fen=amount,
            kind=kind,
            occurred_at=now,
        )
        for account, amount in legs
    )
    return posted


def movement(
    debit: LedgerAccount, credit: LedgerAccount, fen: int
) -> list[tuple[LedgerAccount, int]]:
    """The two legs moving `fen` (> 0) from `debit` to `credit`."""
    if fen <= 0:
        raise UnbalancedPosting(f"a movement needs a positive amount, not {fen}")
    return [(debit, -fen), (credit, fen)]
