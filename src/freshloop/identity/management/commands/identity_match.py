from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from freshloop.core.audit import Actor
from freshloop.identity.matching import DEFAULT_THRESHOLD, match_candidates_generate


class Command(BaseCommand):
    help = "Score likely duplicate people with splink and queue them for review in the back office."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)

    def handle(self, *args: Any, **options: Any) -> None:
        report = match_candidates_generate(
            actor=Actor.system("identity_match"), threshold=options["threshold"]
        )
        self.stdout.write(json.dumps(report.__dict__))
