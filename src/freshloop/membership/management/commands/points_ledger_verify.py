"""Recompute every member's points hash chain; exit non-zero if any chain is broken."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from freshloop.membership.services import ledger_verify_all


class Command(BaseCommand):
    help = "校验全部会员的积分流水哈希链（发现篡改时以非零状态退出）"

    def handle(self, *args: Any, **options: Any) -> None:
        results = ledger_verify_all()
        broken = [result for result in results if not result.ok]
        for result in broken:
            self.stderr.write(
                f"person {result.person_id}: entry {result.first_broken_entry_id} "
                f"— {result.problem}"
            )
        entries = sum(result.entries_checked for result in results)
        summary = f"checked {len(results)} members, {entries} entries, {len(broken)} broken"
        if broken:
            raise CommandError(summary)
        self.stdout.write(summary)
