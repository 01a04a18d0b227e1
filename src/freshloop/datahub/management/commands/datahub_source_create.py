"""Create an event source and print its write key (shown once)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.datahub.ingestion.services import event_source_create


class Command(BaseCommand):
    help = "创建事件来源并输出写入密钥（只显示一次）"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "channel", help="live / shop / wecom / groupbuy / store / douyin / partner"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            raw, _ = event_source_create(
                actor=Actor.system("manage.py"), name=options["name"], channel=options["channel"]
            )
        except DomainError as error:
            raise CommandError(error.text) from error
        self.stdout.write(raw)
