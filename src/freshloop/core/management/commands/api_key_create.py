from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from freshloop.core.apikeys import SCOPES, api_key_create
from freshloop.core.audit import Actor


class Command(BaseCommand):
    help = "Create an API key for a server-side source; prints the key once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--scope", action="append", required=True, choices=sorted(SCOPES))

    def handle(self, *args: Any, **options: Any) -> None:
        raw, key = api_key_create(
            actor=Actor.system("api_key_create"), name=options["name"], scopes=options["scope"]
        )
        self.stdout.write(f"{key.name}: {raw}")
        self.stdout.write("Store it now: only its hash is kept.")
