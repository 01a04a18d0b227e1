from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from freshloop.core.audit import Actor
from freshloop.core.pii import pii_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt PII sealed with an old key using FRESHLOOP_PII_ACTIVE_KEY_ID (safe while live)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        report = pii_rotate(actor=Actor.system("pii_rotate"), batch_size=options["batch_size"])
        self.stdout.write(
            f"checked {report.columns} encrypted columns, re-sealed {report.resealed} values"
        )
