"""Export the event store as Parquet partitioned by day (for a data lake or Spark later)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from freshloop.datahub.eventstore.selectors import event_store


class Command(BaseCommand):
    help = "把事件库导出为按天分区的 Parquet 文件"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("destination", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        files = event_store().export_parquet(options["destination"])
        self.stdout.write(f"exported {len(files)} parquet files to {options['destination']}")
