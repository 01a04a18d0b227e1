from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand

from freshloop.core.audit import Actor
from freshloop.identity.rebuild import identity_rebuild


class Command(BaseCommand):
    help = "Recompute every OneID from the stored identifier links (connected components + merge rules)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would change, change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        report = identity_rebuild(
            actor=Actor.system("identity_rebuild"), dry_run=options["dry_run"]
        )
        summary = {**report.__dict__, "seconds": round(time.perf_counter() - started, 3)}
        self.stdout.write(json.dumps(summary, ensure_ascii=False))
