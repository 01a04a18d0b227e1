"""The default leader levels (见习 / 正式 / 金牌 by monthly GMV); operators edit them afterwards.
Reversing removes only the rows this migration added and no leader uses."""

from typing import Any

from django.db import migrations

DEFAULT_LEVELS = (
    ("trainee", "见习团长", 0, 1),
    ("regular", "正式团长", 300_000, 2),  # ¥3,000 a month
    ("gold", "金牌团长", 2_000_000, 3),  # ¥20,000 a month
)


def seed(apps: Any, schema_editor: Any) -> None:
    level = apps.get_model("groupbuy", "LeaderLevel")
    for code, name, min_gmv_fen, rank in DEFAULT_LEVELS:
        level.objects.get_or_create(
            code=code, defaults={"name": name, "min_monthly_gmv_fen": min_gmv_fen, "rank": rank}
        )


def unseed(apps: Any, schema_editor: Any) -> None:
    level = apps.get_model("groupbuy", "LeaderLevel")
    codes = [code for code, *_ in DEFAULT_LEVELS]
    level.objects.filter(code__in=codes, leaders__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("groupbuy", "0001_leaders")]

    operations = [migrations.RunPython(seed, unseed)]
