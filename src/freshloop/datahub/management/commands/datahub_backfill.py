"""Buffer historical orders as data hub events (idempotent), then flush them into the store."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.ingestion.services import orders_backfill


class Command(BaseCommand):
    help = "把历史订单写入数据中台事件库（可重复执行，不会重复计数）"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-flush", action="store_true", help="只写入缓冲区，不立即落库")

    def handle(self, *args: Any, **options: Any) -> None:
        added = orders_backfill()
        flushed = 0 if options["no_flush"] else buffer_flush_all()
        self.stdout.write(f"backfill: {added} new events buffered, {flushed} flushed")
