"""Verify the points ledger's hash chain, balance by balance."""

from __future__ import annotations

from freshloop.membership.models import (
    GENESIS_HASH,
    Membership,
    PointsEntry,
)
from freshloop.membership.rules import (
    LedgerVerification,
)


def ledger_verify(*, person_id: int) -> LedgerVerification:
    """Recompute one person's chain: numbering, links, hashes, running balance, stored balance."""
    expected_prev = GENESIS_HASH
    balance = 0
    checked = 0
    entries = PointsEntry.objects.filter(person_id=person_id).order_by("seq").iterator()
    for entry in entries:
        checked += 1
        problem = ""
        if entry.seq != checked:
            problem = f"序号不连续：应为 {checked}，实为 {entry.seq}"
        elif entry.prev_hash != expected_prev:
            problem = "上一条哈希不匹配（流水被删除或插入）"
        elif entry.compute_hash() != entry.entry_hash:
            problem = "本条哈希不匹配（流水被篡改）"
        elif entry.balance_after != balance + entry.delta or entry.balance_after < 0:
            problem = "变动后余额与累计不符"
        if problem:
            return LedgerVerification(
                person_id=person_id,
                ok=False,
                entries_checked=checked,
                first_broken_entry_id=entry.pk,
                problem=problem,
            )
        expected_prev = entry.entry_hash
        balance = entry.balance_after
    stored = (
        Membership.objects.filter(person_id=person_id)
        .values_list("points_balance", flat=True)
        .first()
    )
    if (stored or 0) != balance:
        return LedgerVerification(
            person_id=person_id,
            ok=False,
            entries_checked=checked,
            problem=f"会员积分余额 {stored} 与流水累计 {balance} 不符",
        )
    return LedgerVerification(person_id=person_id, ok=True, entries_checked=checked)


def ledger_verify_all() -> list[LedgerVerification]:
    """Verify every person who has a membership or ledger entries; returns every result."""
    person_ids = set(PointsEntry.objects.values_list("person_id", flat=True).distinct())
    person_ids |= set(Membership.objects.values_list("person_id", flat=True))
    return [ledger_verify(person_id=person_id) for person_id in sorted(person_ids)]
